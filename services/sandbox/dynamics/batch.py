"""`POST $batch`: many operations in one request (Execute batch operations using the Web API).

Wire format (OData 4.0 Part 1, 11.7, as Dataverse documents it): the body is `multipart/mixed;
boundary=batch_<id>`; each part is `Content-Type: application/http` with
`Content-Transfer-Encoding: binary` and holds one HTTP request (request line, headers, blank
line, body), or is itself `multipart/mixed; boundary=changeset_<id>`: a change set, whose
operations succeed or fail together, may carry `Content-ID` headers and refer to the record an
earlier operation created as `$<id>` in a URL or an `@odata.bind` / `@odata.id` value.
`GET` is not allowed inside a change set; a batch holds at most 1,000 operations and no batch.

The response is `200` with `multipart/mixed; boundary=batchresponse_<guid>`, one part per
operation in order (a change set answers with a nested `changesetresponse_<guid>` part, or
with the single error that rolled it back). Without `Prefer: odata.continue-on-error` the first
failure ends the batch: the response then stops with that failure and carries its status.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from fastapi.responses import Response
from starlette.datastructures import Headers

from services.sandbox.dynamics.errors import ODATA_HEADERS, ODataError
from services.sandbox.dynamics.handlers import Invocation, commit, dispatch
from services.sandbox.dynamics.keys import relative_path
from services.sandbox.dynamics.store import Change

MAX_OPERATIONS = 1000
_HEADER_NAMES = {
    "odata-version": "OData-Version",
    "odata-entityid": "OData-EntityId",
    "www-authenticate": "WWW-Authenticate",
}
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_SERVICE_PATH = re.compile(r"^.*?/api/data/v9\.\d/")


@dataclass
class Operation:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    operations: list[Operation] = field(default_factory=list)


def _malformed(message: str) -> ODataError:
    return ODataError.query(f"The batch request is malformed: {message}")


# --- parsing ---------------------------------------------------------------------------------


def _boundary(content_type: str | None) -> str:
    if not content_type or not content_type.lower().startswith("multipart/mixed"):
        raise _malformed("the Content-Type must be multipart/mixed with a boundary.")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise _malformed("the Content-Type has no boundary.")
    return match.group(1)


def _split(text: str, boundary: str) -> list[list[str]]:
    """The lines of each part between `--boundary` delimiters, up to `--boundary--`."""
    delimiter = f"--{boundary}"
    parts: list[list[str]] = []
    current: list[str] | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        marker = line.rstrip()
        if marker in (delimiter, f"{delimiter}--"):
            if current is not None:
                parts.append(current)
            if marker.endswith("--") and marker != delimiter:
                return parts
            current = []
        elif current is not None:
            current.append(line)
    raise _malformed(f"the closing delimiter '{delimiter}--' is missing.")


def _headers_and_rest(lines: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    headers: list[tuple[str, str]] = []
    for index, line in enumerate(lines):
        if not line.strip():
            return headers, lines[index + 1 :]
        name, colon, value = line.partition(":")
        if not colon:
            raise _malformed(f"'{line}' is not a header.")
        headers.append((name.strip().lower(), value.strip()))
    return headers, []


def _operation(lines: list[str]) -> Operation:
    part_headers, content = _headers_and_rest(lines)
    found = dict(part_headers)
    if not found.get("content-type", "").lower().startswith("application/http"):
        raise _malformed("an operation must have Content-Type: application/http.")
    while content and not content[0].strip():
        content = content[1:]
    if not content:
        raise _malformed("an operation has no request line.")
    request_line = content[0].split()
    if len(request_line) < 2:
        raise _malformed(f"'{content[0]}' is not a request line.")
    headers, body_lines = _headers_and_rest(content[1:])
    body = "\n".join(body_lines).strip().encode()
    method, url = request_line[0].upper(), request_line[1]
    return Operation(method, url, headers, body, found.get("content-id"))


def parse(body: bytes, content_type: str | None) -> list[Operation | ChangeSet]:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise _malformed("the body is not UTF-8.") from None
    items: list[Operation | ChangeSet] = []
    for lines in _split(text, _boundary(content_type)):
        headers, rest = _headers_and_rest(lines)
        inner_type = dict(headers).get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            changes = ChangeSet()
            for inner in _split("\n".join(rest), _boundary(inner_type)):
                changes.operations.append(_operation(inner))
            items.append(changes)
        else:
            items.append(_operation(lines))
    return items


# --- running -----------------------------------------------------------------------------------


def _substitute(value: Any, references: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        name, slash, rest = value[1:].partition("/")
        if name in references:
            return references[name] + slash + rest
        if name.isdigit():
            raise ODataError(
                400,
                "0x80060888",
                f"Content-ID Reference: '${name}' does not exist in the batch context.",
            )
    return value


def _invocation(
    outer: Invocation, op: Operation, references: dict[str, str] | None, changes: list[Change]
) -> Invocation:
    """The operation as an invocation; inside a change set (`references` given) `$<id>` in the
    URL or a top-level body value names the record an earlier operation created."""
    url, body = op.url, op.body
    if references is not None:
        url = _substitute(url, references)
    if references is not None and body:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            document = {k: _substitute(v, references) for k, v in document.items()}
            body = json.dumps(document).encode()
    parts = urlsplit(url)
    resource = _SERVICE_PATH.sub("", parts.path).lstrip("/")
    if resource.startswith("$batch"):
        raise _malformed("a batch cannot contain another batch.")
    raw = [(name.encode(), value.encode()) for name, value in op.headers]
    return Invocation(
        sandbox=outer.sandbox,
        org=outer.org,
        method=op.method,
        resource=resource,
        query=parts.query,
        headers=Headers(raw=raw),
        body=body,
        base=outer.base,
        changes=changes,
    )


def _render(response: Response, content_id: str | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    status = response.status_code
    lines += ["", f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    for name, value in response.headers.items():
        if name.lower() != "content-length":
            canonical = _HEADER_NAMES.get(name.lower())
            canonical = canonical or "-".join(p.capitalize() for p in name.split("-"))
            lines.append(f"{canonical}: {value}")
    entity_id = response.headers.get("odata-entityid")
    if entity_id is not None:
        lines.append(f"Location: {entity_id}")
    return "\r\n".join(lines) + "\r\n\r\n" + bytes(response.body).decode()


def _multipart(boundary: str, parts: list[str]) -> str:
    return "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"


def _single(outer: Invocation, op: Operation) -> tuple[str, int]:
    inv = _invocation(outer, op, None, [])
    try:
        response = dispatch(inv)
    except ODataError as error:
        response = error.response()
    else:
        commit(outer.sandbox, outer.org, inv.changes, inv.writes)
    return _render(response, op.content_id), response.status_code


def _change_set(outer: Invocation, change_set: ChangeSet) -> tuple[str, int]:
    references: dict[str, str] = {}
    changes: list[Change] = []
    rendered: list[str] = []
    writes = 0
    try:
        with outer.org.atomic():
            for op in change_set.operations:
                if op.method == "GET":
                    raise ODataError.query("GET requests are not allowed within change sets.")
                inv = _invocation(outer, op, references, changes)
                response = dispatch(inv)
                writes += inv.writes
                entity_id = response.headers.get("odata-entityid")
                if op.content_id is not None and entity_id:
                    references[op.content_id] = relative_path(entity_id)
                rendered.append(_render(response, op.content_id))
    except ODataError as error:
        return _render(error.response()), error.status
    commit(outer.sandbox, outer.org, changes, writes)
    boundary = f"changesetresponse_{uuid.uuid4()}"
    header = f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n"
    return header + _multipart(boundary, rendered).rstrip("\r\n"), 200


def execute(outer: Invocation) -> Response:
    """Runs the operations of a `$batch` request in order and answers them in one response."""
    if outer.method != "POST":
        raise ODataError.method_not_allowed(outer.method, "$batch")
    items = parse(outer.body, outer.headers.get("content-type"))
    total = sum(len(i.operations) if isinstance(i, ChangeSet) else 1 for i in items)
    if total > MAX_OPERATIONS:
        raise ODataError.query(
            f"The batch holds {total} requests; a batch may hold at most {MAX_OPERATIONS}."
        )
    outer.sandbox.counters_of(outer.org.name).batched_operations += total
    prefer = ",".join(outer.headers.getlist("prefer")).lower()
    keep_going = "odata.continue-on-error" in prefer
    status, parts = 200, []
    for item in items:
        if isinstance(item, ChangeSet):
            part, code = _change_set(outer, item)
        else:
            part, code = _single(outer, item)
        parts.append(part)
        if code >= 400 and not keep_going:
            status = code
            break
    boundary = f"batchresponse_{uuid.uuid4()}"
    headers = {**ODATA_HEADERS}
    if keep_going:
        headers["Preference-Applied"] = "odata.continue-on-error"
    return Response(
        _multipart(boundary, parts),
        status_code=status,
        headers=headers,
        media_type=f"multipart/mixed; boundary={boundary}",
    )
