"""Text the state store cannot hold, refused with 422 before a route runs.

PostgreSQL's text and jsonb take neither NUL characters nor unpaired UTF-16 surrogates (which
JSON's `\\ud800` escapes and percent-decoding can produce); a request carrying one anywhere —
path, query or JSON body — would otherwise fail in the store with a 500.
"""

import json
from typing import Any

from fastapi import Request

from services.web import ApiError


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_at(value: Any, where: str = "body") -> str | None:
    """Where in a decoded JSON value the first unstorable text is, or None."""
    if isinstance(value, str):
        return None if _storable(value) else where
    if isinstance(value, list):
        for i, item in enumerate(value):
            if found := unstorable_at(item, f"{where}.{i}"):
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _storable(key):
                return f"{where} (a key)"
            if found := unstorable_at(item, f"{where}.{key}"):
                return found
    return None


async def refuse_unstorable_text(request: Request) -> None:
    """Raise 422 `invalid_request` naming where the request carries text the store cannot hold."""
    found = next(
        (f"path.{name}" for name, value in request.path_params.items() if not _storable(value)),
        None,
    ) or next(
        (
            f"query.{name}"
            for name, value in request.query_params.multi_items()
            if not (_storable(name) and _storable(value))
        ),
        None,
    )
    if found is None and request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if body:
            try:
                found = unstorable_at(json.loads(body))
            except ValueError:
                found = None  # not JSON: the route's own validation answers it
    if found is not None:
        raise ApiError(
            422,
            "invalid_request",
            f"{found}: text may not hold NUL characters or unpaired surrogates",
        )
