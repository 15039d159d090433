"""`POST $batch` with multipart/mixed bodies and change sets, as Dataverse documents it."""

import email
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import httpx
import pytest

from tests.unit.dynamics_support import BASE, ORG_URL, create, read, sandbox_client

ROOT = "/api/data/v9.2/"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as c:
        yield c


def operation(
    method: str, url: str, body: dict[str, Any] | None = None, content_id: str | None = None
) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(body)]
    else:
        lines += ["", ""]
    return "\r\n".join(lines)


def change_set(*operations: str, boundary: str = "changeset_A") -> str:
    inner = "".join(f"--{boundary}\r\n{op}\r\n" for op in operations) + f"--{boundary}--\r\n"
    return f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n{inner}'


def batch_body(*parts: str, boundary: str = "batch_B") -> str:
    return "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"


async def post_batch(
    client: httpx.AsyncClient, *parts: str, prefer: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": 'multipart/mixed; boundary="batch_B"'}
    if prefer:
        headers["Prefer"] = prefer
    return await client.post(f"{BASE}$batch", content=batch_body(*parts), headers=headers)


@dataclass
class Part:
    status: int
    headers: dict[str, str]
    body: str
    content_id: str | None
    in_change_set: bool

    def json(self) -> Any:
        return json.loads(self.body)


def _http(message: Message, in_change_set: bool) -> Part:
    payload = message.get_payload()
    assert isinstance(payload, str)
    head, _, body = payload.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers = dict(line.split(": ", 1) for line in header_lines if line)
    return Part(
        int(status_line.split()[1]), headers, body.strip(), message["Content-ID"], in_change_set
    )


def parts_of(response: httpx.Response) -> list[Part]:
    """The operation responses, change sets flattened, parsed with the standard library."""
    raw = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode() + response.content
    found = []
    for message in email.message_from_bytes(raw).get_payload():  # type: ignore[union-attr]
        assert isinstance(message, Message)
        if message.is_multipart():
            found += [_http(m, True) for m in message.get_payload()]  # type: ignore[union-attr]
        else:
            assert message["Content-Type"] == "application/http"
            assert message["Content-Transfer-Encoding"] == "binary"
            found.append(_http(message, False))
    return found


async def test_a_batch_runs_its_operations_in_order_and_answers_each(
    client: httpx.AsyncClient,
) -> None:
    response = await post_batch(
        client,
        operation("POST", f"{ROOT}tasks", {"subject": "Task 1"}),
        operation("POST", f"{ORG_URL}tasks", {"subject": "Task 2"}),
        operation("GET", f"{ROOT}tasks?$select=subject&$orderby=subject"),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=batchresponse_")
    created, second, listed = parts_of(response)
    assert (created.status, second.status, listed.status) == (204, 204, 200)
    assert created.headers["OData-EntityId"].startswith(f"{ORG_URL}tasks(")
    assert created.headers["Location"] == created.headers["OData-EntityId"]
    assert [t["subject"] for t in listed.json()["value"]] == ["Task 1", "Task 2"]


async def test_a_change_set_refers_to_records_it_created_by_content_id(
    client: httpx.AsyncClient,
) -> None:
    response = await post_batch(
        client,
        change_set(
            operation("POST", f"{ROOT}accounts", {"name": "Contoso"}, content_id="1"),
            operation(
                "POST",
                f"{ROOT}contacts",
                {"lastname": "Lee", "parentcustomerid_account@odata.bind": "$1"},
                content_id="2",
            ),
            operation("PATCH", "$1", {"primarycontactid@odata.bind": "$2"}, content_id="3"),
        ),
    )
    parts = parts_of(response)
    assert [(p.status, p.content_id, p.in_change_set) for p in parts] == [
        (204, "1", True),
        (204, "2", True),
        (204, "3", True),
    ]
    account = parts[0].headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    contact = parts[1].headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    body = await read(client, "accounts", account)
    assert body["_primarycontactid_value"] == contact
    assert (await read(client, "contacts", contact))["_parentcustomerid_value"] == account


async def test_a_failing_change_set_rolls_back_and_answers_with_one_error(
    client: httpx.AsyncClient,
) -> None:
    response = await post_batch(
        client,
        change_set(
            operation("POST", f"{ROOT}accounts", {"name": "Kept?"}, content_id="1"),
            operation("POST", f"{ROOT}contacts", {"lastname": "x" * 51}, content_id="2"),
        ),
    )
    assert response.status_code == 400
    [failure] = parts_of(response)
    assert failure.status == 400
    assert failure.json()["error"]["code"] == "0x80044331"
    assert (await client.get(f"{BASE}accounts")).json()["value"] == []
    counters = (await client.get("/_sandbox/counters?org=demo")).json()
    assert counters["writes"] == 0


async def test_without_continue_on_error_the_first_failure_ends_the_batch(
    client: httpx.AsyncClient,
) -> None:
    response = await post_batch(
        client,
        operation("POST", f"{ROOT}tasks", {"subject": "ok"}),
        operation("POST", f"{ROOT}tasks", {"subject": "x" * 201}),
        operation("POST", f"{ROOT}tasks", {"subject": "never"}),
    )
    assert response.status_code == 400
    assert [p.status for p in parts_of(response)] == [204, 400]
    subjects = [t["subject"] for t in (await client.get(f"{BASE}tasks")).json()["value"]]
    assert subjects == ["ok"]


async def test_with_continue_on_error_every_operation_runs(client: httpx.AsyncClient) -> None:
    response = await post_batch(
        client,
        operation("POST", f"{ROOT}tasks", {"subject": "x" * 201}),
        operation("POST", f"{ROOT}tasks", {"subject": "Task 2"}),
        operation("POST", f"{ROOT}tasks", {"subject": "Task 3"}),
        prefer="odata.continue-on-error",
    )
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "odata.continue-on-error"
    parts = parts_of(response)
    assert [p.status for p in parts] == [400, 204, 204]
    assert "exceeded the maximum allowed length of '200'" in parts[0].json()["error"]["message"]


async def test_get_is_not_allowed_inside_a_change_set(client: httpx.AsyncClient) -> None:
    response = await post_batch(
        client,
        change_set(
            operation("POST", f"{ROOT}accounts", {"name": "A"}),
            operation("GET", f"{ROOT}accounts"),
        ),
    )
    assert response.status_code == 400
    assert (await client.get(f"{BASE}accounts")).json()["value"] == []


async def test_an_undeclared_content_id_is_refused(client: httpx.AsyncClient) -> None:
    response = await post_batch(
        client,
        change_set(
            operation("POST", f"{ROOT}contacts", {"parentcustomerid_account@odata.bind": "$1"})
        ),
    )
    [failure] = parts_of(response)
    assert failure.json()["error"]["message"] == (
        "Content-ID Reference: '$1' does not exist in the batch context."
    )


async def test_a_batch_holds_at_most_a_thousand_operations(client: httpx.AsyncClient) -> None:
    ops = [operation("POST", f"{ROOT}tasks", {"subject": f"T{i}"}) for i in range(1001)]
    response = await post_batch(client, *ops)
    assert response.status_code == 400
    assert "at most 1000" in response.json()["error"]["message"]
    assert (await client.get(f"{BASE}tasks/$count")).text == "0"


async def test_a_batch_is_one_request_for_the_budget_but_each_write_counts(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/_sandbox/limits", json={"requests_per_window": 2, "window_seconds": 60})
    ops = [operation("POST", f"{ROOT}contacts", {"lastname": f"L{i}"}) for i in range(300)]
    response = await post_batch(client, *ops)
    assert response.status_code == 200
    assert all(p.status == 204 for p in parts_of(response))
    counters = (await client.get("/_sandbox/counters?org=demo")).json()
    assert counters["requests"] == {"POST $batch": 1}
    assert (counters["writes"], counters["records_written"]) == (300, 300)
    assert counters["batched_operations"] == 300
    assert (await client.get(f"{BASE}contacts/$count")).status_code == 200
    assert (await client.get(f"{BASE}contacts/$count")).status_code == 429


async def test_operations_inside_a_batch_may_use_alternate_keys_and_prefer(
    client: httpx.AsyncClient,
) -> None:
    await create(client, "contacts", lastname="Lee", emailaddress1="lee@example.com")
    body = operation(
        "PATCH", f"{ROOT}contacts(emailaddress1='lee@example.com')", {"jobtitle": "CTO"}
    )
    body = body.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nPrefer: return=representation\r\n", 1)
    [part] = parts_of(await post_batch(client, body))
    assert part.status == 200
    assert part.json()["jobtitle"] == "CTO"


async def test_a_malformed_batch_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{BASE}$batch", content="no parts", headers={"Content-Type": "multipart/mixed"}
    )
    assert response.status_code == 400
    missing_close = await client.post(
        f"{BASE}$batch",
        content="--batch_B\r\n" + operation("GET", f"{ROOT}tasks"),
        headers={"Content-Type": "multipart/mixed; boundary=batch_B"},
    )
    assert missing_close.status_code == 400
