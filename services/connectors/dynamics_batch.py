"""Dataverse `$batch` (Execute batch operations using the Web API): many writes in one request.

A request is `POST $batch` with a `multipart/mixed` body, one `application/http` part per
operation, at most 1,000 of them. Sent with `Prefer: odata.continue-on-error`, every operation
runs even when one before it failed, and the response holds one part per operation, in order,
each with its own status, headers (`OData-EntityId` of a created record) and OData error body.
Operations are sent outside change sets, so that one bad record fails alone.

Each operation carries a `Content-ID`; a response part is mapped back to its operation by it,
or by its position where the server leaves the header out (OData 4.0 only requires it inside
change sets). Failed operations are classified one by one; those whose classification says to
retry (throttled, unavailable, or never run) go out again in the next, smaller batch.
"""

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.connectors.errors import Action, Category, ConnectorError, ErrorResolution
from services.connectors.http import ApiClient

log = logging.getLogger(__name__)

MAX_OPERATIONS = 1000  # Dataverse's limit per batch request
BATCH_TIMEOUT = 120.0  # seconds; a thousand writes take longer than one
_CRLF = b"\r\n"

Classifier = Callable[[httpx.Response], ErrorResolution]


class BatchFormatError(ValueError):
    """A `$batch` response that is not the multipart document Dataverse sends."""


@dataclass(frozen=True)
class Operation:
    """One request inside a batch; `ref` is the caller's handle for it."""

    ref: str
    method: str
    path: str  # relative to the service root, e.g. "contacts(00000000-...)"
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    """One operation's response inside a batch response."""

    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    content_id: str | None = None

    def as_response(self) -> httpx.Response:
        """The part as a stand-alone response, for the connector's error classifier."""
        return httpx.Response(self.status, headers=self.headers, content=self.body)


@dataclass(frozen=True)
class Outcome:
    """What became of one operation: its response (headers and body) when it succeeded, else
    the error; `status` is the operation's own, 0 where the batch request as a whole failed."""

    ref: str
    headers: dict[str, str] | None = None
    error: ErrorResolution | None = None
    status: int = 0
    body: bytes = b""


# --- the request -------------------------------------------------------------------------------


def encode(operations: list[Operation], service_root: str, boundary: str) -> bytes:
    """The multipart body of a batch; Content-IDs are the operations' positions from 1."""
    lines: list[str] = []
    for index, op in enumerate(operations, start=1):
        lines += [
            f"--{boundary}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {index}",
            "",
            f"{op.method} {service_root}{op.path} HTTP/1.1",
        ]
        lines += [f"{name}: {value}" for name, value in op.headers.items()]
        if op.body is not None:
            lines += ["Content-Type: application/json; type=entry", "", json.dumps(op.body)]
        else:
            lines += [""]
        lines.append("")
    lines.append(f"--{boundary}--")
    return ("\r\n".join(lines) + "\r\n").encode()


# --- the response ------------------------------------------------------------------------------


def _boundary(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"')
    raise BatchFormatError(f"no boundary in {content_type!r}")


def _head_and_rest(data: bytes) -> tuple[list[str], bytes]:
    """Header lines up to the first blank line, and what follows it."""
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        head, rest = data[:crlf], data[crlf + 4 :]
    elif lf >= 0:
        head, rest = data[:lf], data[lf + 2 :]
    else:
        head, rest = data, b""
    return head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"), rest


def _headers(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            found[name.strip().lower()] = value.strip()
    return found


def _split(data: bytes, boundary: str) -> list[bytes]:
    """The body parts between `--boundary` delimiters (RFC 2046 5.1.1)."""
    delimiter = b"--" + boundary.encode()
    chunks = data.split(delimiter)
    if len(chunks) < 2:
        raise BatchFormatError(f"no part delimited by {delimiter!r}")
    parts: list[bytes] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts  # the close delimiter
        # The rest of the delimiter line goes, and so does the line break before the next one.
        line_end = chunk.find(b"\n")
        content = chunk[line_end + 1 :] if line_end >= 0 else b""
        content = content.removesuffix(b"\n").removesuffix(b"\r")
        parts.append(content)
    raise BatchFormatError(f"the close delimiter {delimiter!r}-- is missing")


def _http_part(part_headers: dict[str, str], message: bytes) -> Part:
    lines, body = _head_and_rest(message.lstrip(b"\r\n"))
    status_line = lines[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise BatchFormatError(f"{lines[0]!r} is not a status line")
    return Part(int(status_line[1]), _headers(lines[1:]), body, part_headers.get("content-id"))


def decode(content_type: str, data: bytes) -> list[Part]:
    """The operation responses of a batch response, change sets flattened, in order."""
    found: list[Part] = []
    for raw in _split(data, _boundary(content_type)):
        lines, rest = _head_and_rest(raw)
        part_headers = _headers(lines)
        inner_type = part_headers.get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            found += decode(inner_type, rest)
        else:
            found.append(_http_part(part_headers, rest))
    return found


# --- sending -----------------------------------------------------------------------------------

_NOT_RUN = ErrorResolution(
    Action.RETRY, Category.UNAVAILABLE, "the batch ended before this operation ran"
)


class BatchSender:
    """Sends operations as `$batch` requests of up to `size` and maps the responses back."""

    def __init__(
        self,
        api: ApiClient,
        classify: Classifier,
        size: int = MAX_OPERATIONS,
        max_rounds: int | None = None,
    ) -> None:
        if not 1 <= size <= MAX_OPERATIONS:
            raise ValueError(f"a batch holds 1 to {MAX_OPERATIONS} operations, not {size}")
        self.api = api
        self.classify = classify
        self.size = size
        self.max_rounds = max_rounds or api.max_attempts
        self.service_root = str(api.http.base_url)

    async def send(self, operations: list[Operation]) -> list[Outcome]:
        """One outcome per operation, in any order."""
        outcomes: dict[str, Outcome] = {}
        pending = operations
        backoff = 0.5
        for round_ in range(1, self.max_rounds + 1):
            retry: list[Operation] = []
            wait = 0.0
            for start in range(0, len(pending), self.size):
                for op, outcome in await self._batch(pending[start : start + self.size]):
                    error = outcome.error
                    last = round_ == self.max_rounds
                    if error is not None and error.action is not Action.FAIL and not last:
                        retry.append(op)
                        wait = max(wait, error.wait_seconds)
                    else:
                        outcomes[op.ref] = outcome
            if not retry:
                break
            log.warning("$batch: %d operations to retry in %.1fs", len(retry), max(wait, backoff))
            await asyncio.sleep(max(wait, backoff))
            backoff = min(backoff * 2, 30.0)
            pending = retry
        return list(outcomes.values())

    async def _batch(self, chunk: list[Operation]) -> list[tuple[Operation, Outcome]]:
        boundary = f"batch_{uuid.uuid4()}"
        try:
            response = await self.api.request(
                "POST",
                "$batch",
                content=encode(chunk, self.service_root, boundary),
                headers={
                    "Content-Type": f"multipart/mixed; boundary={boundary}",
                    "Prefer": "odata.continue-on-error",
                    "OData-Version": "4.0",
                    "OData-MaxVersion": "4.0",
                },
                timeout=BATCH_TIMEOUT,
            )
        except ConnectorError as exc:
            refused = exc.resolution.action is Action.FAIL
            if refused and exc.resolution.category is Category.VALIDATION and len(chunk) > 1:
                # The request as a whole was refused as invalid: halve it, so that an operation
                # that spoils its batch fails alone (a refused token fails all at once).
                middle = len(chunk) // 2
                return [*await self._batch(chunk[:middle]), *await self._batch(chunk[middle:])]
            return [(op, Outcome(op.ref, error=exc.resolution)) for op in chunk]
        try:
            parts = decode(response.headers.get("content-type", ""), response.content)
        except BatchFormatError as exc:
            # What ran is unknown: fail rather than risk writing a record twice.
            error = ErrorResolution(
                Action.FAIL, Category.UNKNOWN, f"unreadable $batch reply: {exc}"
            )
            return [(op, Outcome(op.ref, error=error)) for op in chunk]
        return self._map(chunk, parts)

    def _map(self, chunk: list[Operation], parts: list[Part]) -> list[tuple[Operation, Outcome]]:
        by_content_id = {str(i): op for i, op in enumerate(chunk, start=1)}
        answered: dict[str, tuple[Operation, Outcome]] = {}
        for index, part in enumerate(parts):
            op = by_content_id.get(part.content_id or "")
            if op is None:
                if index >= len(chunk):
                    continue
                op = chunk[index]
            error = None if 200 <= part.status < 300 else self.classify(part.as_response())
            outcome = Outcome(op.ref, part.headers, error, part.status, part.body)
            answered[op.ref] = (op, outcome)
        # Without continue-on-error applied, the batch stops at its first failure.
        return [answered.get(op.ref) or (op, Outcome(op.ref, error=_NOT_RUN)) for op in chunk]
