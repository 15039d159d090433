"""Normal forms of the values records are matched by: what counts as the same email, domain,
name or product code whatever its case, spacing or decoration."""

import re
from typing import Any

_SPACES = re.compile(r"\s+")
_TRAILING_PUNCTUATION = re.compile(r"[\s.,;:!?]+$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def normalise_email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value or None


def normalise_name(value: Any) -> str | None:
    """Case, runs of spaces and trailing punctuation do not count: `Acme  Inc.` = `acme inc`."""
    if not isinstance(value, str):
        return None
    value = _TRAILING_PUNCTUATION.sub("", _SPACES.sub(" ", value).strip()).casefold()
    return value or None


def normalise_domain(value: Any) -> str | None:
    """A web address reduced to its host: `HTTPS://www.Acme.com/about?x` = `acme.com`."""
    if not isinstance(value, str):
        return None
    host = _SCHEME.sub("", value.strip().lower())
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
    host = host.removeprefix("www.")
    return host or None


def normalise_code(value: Any) -> str | None:
    """A product code (SKU): case and surrounding spaces do not count."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip().upper()
    return value or None
