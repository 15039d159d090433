"""The Dynamics connector writes through Dataverse `$batch`: against the sandbox over HTTP, each
write's result comes back from its own part of the batch response."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from schemas.commands import WriteOp
from services.connectors.base import WriteRequest
from services.connectors.dynamics import DynamicsConnector
from services.connectors.errors import ConnectorError
from services.sandbox.dynamics.app import create_app as dynamics_app
from tests.helpers import serve

pytestmark = pytest.mark.integration

TOKEN = "sandbox-dynamics-token"


@pytest_asyncio.fixture(scope="module")
async def sandbox() -> AsyncIterator[str]:
    async with serve(dynamics_app()) as url:
        yield url


@pytest_asyncio.fixture
async def connector(sandbox: str) -> AsyncIterator[DynamicsConnector]:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        (await http.post("/_sandbox/reset")).raise_for_status()
    connector = DynamicsConnector(f"{sandbox}/demo", TOKEN)
    yield connector
    await connector.aclose()


async def requests_made(sandbox: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        counters = (await http.get("/_sandbox/counters", params={"org": "demo"})).json()
    return dict(counters["requests"])


def contact(**fields: Any) -> dict[str, Any]:
    return {"emailaddress1": f"{uuid4().hex[:12]}@example.com", "lastname": "Lee", **fields}


def creates(n: int) -> list[WriteRequest]:
    return [
        WriteRequest(f"c{i}", WriteOp.CREATE, None, contact(firstname=f"F{i}")) for i in range(n)
    ]


async def test_a_thousand_creates_are_one_request_and_each_gets_its_id(
    sandbox: str, connector: DynamicsConnector
) -> None:
    writes = creates(1000)
    results = {r.ref: r for r in await connector.write_batch("contacts", writes)}
    assert await requests_made(sandbox) == {"POST $batch": 1}
    assert all(r.ok for r in results.values())
    ids = [results[w.ref].record_id for w in writes]
    assert len(set(ids)) == 1000
    found = await connector.read_batch("contacts", [str(i) for i in ids[:50]], ["firstname"])
    assert [found[str(ids[i])].properties["firstname"] for i in range(50)] == [
        f"F{i}" for i in range(50)
    ]


async def test_records_are_read_by_id_a_thousand_to_a_request_and_missing_ones_left_out(
    sandbox: str, connector: DynamicsConnector
) -> None:
    ids = [str(r.record_id) for r in await connector.write_batch("contacts", creates(999))]
    missing = "11111111-2222-3333-4444-555555555555"
    found = await connector.read_batch("contacts", [*ids, missing], ["firstname"])
    assert await requests_made(sandbox) == {"POST $batch": 2}  # the creates, then the read
    assert sorted(found) == sorted(ids)
    assert found[ids[7]].properties["firstname"] == "F7"


async def test_a_read_from_an_organisation_that_does_not_exist_fails(sandbox: str) -> None:
    connector = DynamicsConnector(f"{sandbox}/nosuchorg", TOKEN, max_attempts=1)
    try:
        with pytest.raises(ConnectorError) as failed:
            await connector.read_batch("contacts", ["11111111-2222-3333-4444-555555555555"], [])
    finally:
        await connector.aclose()
    assert failed.value.resolution.category.value == "not_found"


async def test_more_writes_than_a_batch_holds_take_as_many_requests_as_needed(
    sandbox: str,
) -> None:
    connector = DynamicsConnector(f"{sandbox}/demo", TOKEN, batch_size=100)
    async with httpx.AsyncClient(base_url=sandbox) as http:
        (await http.post("/_sandbox/reset")).raise_for_status()
    try:
        results = await connector.write_batch("contacts", creates(250))
    finally:
        await connector.aclose()
    assert len(results) == 250
    assert all(r.ok for r in results)
    assert await requests_made(sandbox) == {"POST $batch": 3}


async def test_updates_upserts_and_deletes_share_a_batch_with_creates(
    sandbox: str, connector: DynamicsConnector
) -> None:
    [existing, doomed] = [
        r.record_id
        for r in await connector.write_batch(
            "contacts",
            [
                WriteRequest("a", WriteOp.CREATE, None, contact(firstname="Ann")),
                WriteRequest("b", WriteOp.CREATE, None, contact()),
            ],
        )
    ]
    keyed = contact(firstname="Kay")
    writes = [
        WriteRequest("update", WriteOp.UPDATE, existing, {"firstname": "Anna"}),
        WriteRequest("delete", WriteOp.DELETE, doomed, {}),
        WriteRequest("upsert", WriteOp.UPSERT, None, keyed, id_property="emailaddress1"),
        WriteRequest("create", WriteOp.CREATE, None, contact(firstname="Cy")),
    ]
    results = {r.ref: r for r in await connector.write_batch("contacts", writes)}
    assert all(r.ok for r in results.values()), [r.error for r in results.values()]
    assert results["update"].record_id == existing
    assert results["delete"].record_id == doomed
    upserted, created = results["upsert"].record_id, results["create"].record_id
    found = await connector.read_batch(
        "contacts", [str(existing), str(doomed), str(upserted), str(created)], ["firstname"]
    )
    assert {r.properties["firstname"] for r in found.values()} == {"Anna", "Kay", "Cy"}
    assert str(doomed) not in found
    assert (await requests_made(sandbox))["POST $batch"] == 3  # two writes and the read


async def test_bad_records_fail_alone_with_their_own_error(
    sandbox: str, connector: DynamicsConnector
) -> None:
    taken = contact()
    [first] = await connector.write_batch(
        "contacts", [WriteRequest("t", WriteOp.CREATE, None, taken)]
    )
    assert first.ok
    missing = "11111111-2222-3333-4444-555555555555"
    writes = [
        WriteRequest("ok1", WriteOp.CREATE, None, contact()),
        WriteRequest("invalid", WriteOp.CREATE, None, contact(nosuchattribute="x")),
        WriteRequest("too_long", WriteOp.CREATE, None, contact(lastname="x" * 51)),
        WriteRequest("taken", WriteOp.CREATE, None, dict(taken)),
        WriteRequest("missing", WriteOp.UPDATE, missing, {"firstname": "X"}),
        WriteRequest("ok2", WriteOp.CREATE, None, contact()),
    ]
    results = {r.ref: r for r in await connector.write_batch("contacts", writes)}
    assert (await requests_made(sandbox))["POST $batch"] == 2
    assert results["ok1"].ok
    assert results["ok2"].ok
    categories = {
        ref: results[ref].error.category.value  # type: ignore[union-attr]
        for ref in ("invalid", "too_long", "taken", "missing")
    }
    assert categories == {
        "invalid": "validation",
        "too_long": "validation",
        "taken": "duplicate",
        "missing": "not_found",
    }
    invalid = results["invalid"].error
    assert invalid is not None
    assert "nosuchattribute" in invalid.message  # the operation's own OData error message
    assert results["missing"].record_id == missing


async def test_a_throttled_batch_is_sent_again_whole(
    sandbox: str, connector: DynamicsConnector
) -> None:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        fault = {"status": 429, "count": 1, "org": "demo", "path_prefix": "$batch"}
        (await http.post("/_sandbox/faults", json=fault)).raise_for_status()
    results = await connector.write_batch("contacts", creates(10))
    assert all(r.ok for r in results)
    assert await requests_made(sandbox) == {"POST $batch": 2}
    assert len({r.record_id for r in results}) == 10


async def test_activities_of_several_kinds_go_in_one_batch_with_compound_ids(
    sandbox: str, connector: DynamicsConnector
) -> None:
    writes = [
        WriteRequest("task", WriteOp.CREATE, None, {"subject": "Call back"}, kind="task"),
        WriteRequest("call", WriteOp.CREATE, None, {"subject": "Called"}, kind="call"),
    ]
    results = {r.ref: r for r in await connector.write_batch("activities", writes)}
    assert str(results["task"].record_id).startswith("tasks/")
    assert str(results["call"].record_id).startswith("phonecalls/")
    assert await requests_made(sandbox) == {"POST $batch": 1}
