"""What the dashboard reads and does beyond the record view — one record with its audit trail,
the records behind an error category, retrying failing records, the writes synced over time,
and the token's role — against a real PostgreSQL, with links and audit rows stored the way the
writers store them."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from schemas.events import ChangeEvent, Side
from schemas.settings import SyncSettings, SyncState
from services.connectors.errors import FIX_STEPS, Category
from services.reconciler.retries import publish_retries
from services.status_api.app import create_app
from services.store.migrate import migrate
from services.store.outcomes import AuditEntry, LinkOutcome
from services.store.repository import Store
from services.tokens import create_token
from tests.helpers import app_connection

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-secret"}
CID = "c-health"  # the records of these tests
QUIET = "c-health-quiet"  # a connection whose audit trail has only rows of a known past
PAST = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)


def _synced(
    obj: str,
    hubspot_id: str,
    app_id: str,
    *,
    into: Side = Side.APP,
    op: str = "update",
    fields: dict[str, tuple[Any, Any]] | None = None,
    command: str = "",
) -> LinkOutcome:
    changes = fields or {"firstname": (None, hubspot_id)}
    return LinkOutcome(
        connection_id=CID,
        object_type=obj,
        hubspot_id=hubspot_id,
        app_id=app_id,
        status="in_sync",
        synced={f"{f}:{f}": new for f, (_, new) in changes.items()},
        target=into,
        op=op,
        reason=f"{op} into {into}",
        command_id=command or f"cmd-{hubspot_id}-{op}",
        audit=[AuditEntry(f, old, new) for f, (old, new) in changes.items()],
    )


def _failing(obj: str, hubspot_id: str, category: str | None, message: str) -> LinkOutcome:
    return LinkOutcome(
        connection_id=CID,
        object_type=obj,
        hubspot_id=hubspot_id,
        app_id=None,
        status="failing",
        synced=None,
        error_category=category,
        error_message=message,
        retry_in=timedelta(hours=1),  # not due before a test asks for it
    )


async def _connection(store: Store, cid: str) -> None:
    await store.create_connection(app_connection(cid))
    for obj in ("contacts", "deals", "activities"):
        await store.put_sync(cid, obj, SyncSettings())
        await store.set_sync_state(cid, obj, SyncState.SYNCING)


async def _seed(store: Store) -> None:
    await _connection(store, CID)
    # h0 is created in the app, then changed twice from HubSpot and once from the app.
    await store.apply_outcomes(
        [_synced("contacts", "h0", "a0", op="create", fields={"firstname": (None, "Ada")})]
    )
    await store.apply_outcomes(
        [_synced("contacts", "h0", "a0", fields={"jobtitle": (None, "CTO")}, command="c2")]
    )
    await store.apply_outcomes(
        [_synced("contacts", "h0", "a0", into=Side.HUBSPOT, fields={"phone": ("1", "2")})]
    )
    await store.apply_outcomes([_synced("contacts", f"h{i}", f"a{i}") for i in range(1, 5)])
    await store.apply_outcomes(
        [_synced("activities", "tasks/1", "tasks/9f2c", into=Side.APP, op="create")]
    )
    await store.apply_outcomes(
        [_failing("contacts", f"fv{i}", "validation", f"bad email {i}") for i in range(3)]
        + [_failing("contacts", "fd0", "duplicate", "already exists")]
        + [_failing("deals", "fu0", None, "no result returned for record")]
        + [_failing("deals", "fp0", "permission", "needs prvWriteOpportunity")]
    )
    await store.mark_deleted(CID, "contacts", Side.APP, ["a1"])
    await store.repoint_merged(CID, "contacts", "h3", ["h4"])
    await store.add_association_waits(CID, "contacts", Side.HUBSPOT, [("h2", "companies")])

    await _connection(store, QUIET)
    rows = [  # (seconds after PAST, target, command, fields written)
        (5, "app", "q1", 3),
        (40, "app", "q2", 1),
        (50, "hubspot", "q3", 2),
        (65, "hubspot", "q4", 1),
        (3600 + 10, "app", "q5", 1),
    ]
    for seconds, target, command, fields in rows:
        for n in range(fields):
            await store.pool.execute(
                "INSERT INTO audit (connection_id, object_type, hubspot_id, app_id, target, op,"
                " field, old_value, new_value, reason, command_id, at)"
                " VALUES ($1, 'contacts', $2, $3, $4, 'update', $5, NULL, $6, 'test', $2, $7)",
                QUIET,
                command,
                f"app-{command}",
                target,
                f"field{n}",
                n,
                PAST + timedelta(seconds=seconds),
            )


@pytest_asyncio.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    await _seed(store)
    yield store
    await store.close()


@pytest_asyncio.fixture(scope="module")
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, "admin-secret")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers=ADMIN
    ) as client:
        yield client


@pytest_asyncio.fixture(scope="module")
async def viewer(store: Store) -> dict[str, str]:
    """A viewer's token, issued the way `datasync token create --role viewer` issues it."""
    _, token = await create_token(store, "viewer")
    return {"Authorization": f"Bearer {token}"}


async def _record(api: httpx.AsyncClient, obj: str, record_id: str, **params: Any) -> Any:
    response = await api.get(f"/v1/connections/{CID}/records/{obj}/{record_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# The token's role --------------------------------------------------------------------------


async def test_me_says_the_role_of_the_token(api: httpx.AsyncClient, viewer: dict[str, str]):
    assert (await api.get("/v1/me")).json() == {"role": "admin"}
    assert (await api.get("/v1/me", headers=viewer)).json() == {"role": "viewer"}
    refused = await api.get("/v1/me", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"


# One record --------------------------------------------------------------------------------


async def test_a_record_opens_by_its_hubspot_id_with_its_audit_newest_first(
    api: httpx.AsyncClient,
):
    record = await _record(api, "contacts", "h0")
    assert (record["matched"], record["hubspot_id"], record["app_id"]) == ("hubspot_id", "h0", "a0")
    assert (record["status"], record["error"]) == ("in_sync", None)
    assert record["last_synced_at"] is not None
    trail = [
        (a["target"], a["op"], a["field"], a["old_value"], a["new_value"]) for a in record["audit"]
    ]
    assert trail == [
        ("hubspot", "update", "phone", "1", "2"),
        ("app", "update", "jobtitle", None, "CTO"),
        ("app", "create", "firstname", None, "Ada"),
    ]
    assert record["audit"][0]["reason"] == "update into hubspot"


async def test_a_record_opens_by_its_app_id_too(api: httpx.AsyncClient):
    by_app = await _record(api, "contacts", "a0")
    by_hubspot = await _record(api, "contacts", "h0")
    assert by_app["matched"] == "app_id"
    assert {**by_app, "matched": "hubspot_id"} == by_hubspot


async def test_the_audit_of_a_record_can_be_cut_short(api: httpx.AsyncClient):
    record = await _record(api, "contacts", "h0", audit_limit=1)
    assert [a["field"] for a in record["audit"]] == ["phone"]


async def test_a_failing_record_shows_its_error_fix_attempts_and_next_retry(
    api: httpx.AsyncClient,
):
    record = await _record(api, "deals", "fp0")
    assert record["status"] == "failing"
    error = record["error"]
    assert (error["category"], error["message"]) == ("permission", "needs prvWriteOpportunity")
    assert error["fix"] == FIX_STEPS[Category.PERMISSION]
    assert error["attempts"] == 1
    assert error["next_retry_at"] is not None
    assert (record["app_id"], record["last_synced_at"], record["audit"]) == (None, None, [])


async def test_deleted_merged_and_waiting_records_say_so(api: httpx.AsyncClient):
    deleted = await _record(api, "contacts", "a1")
    assert (deleted["status"], deleted["deleted_side"]) == ("deleted", "app")
    merged = await _record(api, "contacts", "a4")  # its HubSpot record was merged into h3
    assert (merged["status"], merged["merged_into"], merged["hubspot_id"]) == ("merged", "h3", None)
    assert [a["field"] for a in merged["audit"]] == ["firstname"]
    waiting = await _record(api, "contacts", "h2")
    assert waiting["waiting_for"] == ["companies"]


async def test_an_activity_opens_by_its_compound_id(api: httpx.AsyncClient):
    record = await _record(api, "activities", "tasks/9f2c")
    assert (record["matched"], record["hubspot_id"]) == ("app_id", "tasks/1")
    assert [(a["op"], a["target"]) for a in record["audit"]] == [("create", "app")]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"/v1/connections/{CID}/records/contacts/h999", "unknown_record"),
        (f"/v1/connections/{CID}/records/deals/h0", "unknown_record"),  # a contact's id
        (f"/v1/connections/{CID}/records/leads/h0", "unknown_object"),
        ("/v1/connections/nope/records/contacts/h0", "unknown_connection"),
    ],
)
async def test_an_unknown_record_gets_404_with_the_error_body(
    api: httpx.AsyncClient, path: str, code: str
):
    response = await api.get(path)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


# The records behind an error category -------------------------------------------------------


async def _records(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/connections/{CID}/records", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


async def test_each_error_group_lists_its_records_by_category(api: httpx.AsyncClient):
    groups = (await api.get(f"/v1/connections/{CID}/errors")).json()["groups"]
    assert len(groups) == 4
    for group in groups:
        records = await _records(api, object=group["object"], category=group["category"])
        assert len(records) == group["count"]
        assert {(r["status"], r["error"]["category"]) for r in records} == {
            ("failing", group["category"])
        }


async def test_the_category_filter_pages_and_takes_status_failing(api: httpx.AsyncClient):
    first = (
        await api.get(
            f"/v1/connections/{CID}/records", params={"category": "validation", "limit": 2}
        )
    ).json()
    rest = await _records(api, category="validation", status="failing", cursor=first["next_cursor"])
    assert sorted(r["hubspot_id"] for r in first["records"] + rest) == ["fv0", "fv1", "fv2"]


async def test_a_category_with_another_status_is_refused(api: httpx.AsyncClient):
    response = await api.get(
        f"/v1/connections/{CID}/records", params={"category": "validation", "status": "in_sync"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_filter"


# Retrying failing records -------------------------------------------------------------------


async def _error(api: httpx.AsyncClient, obj: str, record_id: str) -> dict[str, Any]:
    return dict((await _record(api, obj, record_id))["error"])


async def test_a_viewer_may_not_retry(api: httpx.AsyncClient, viewer: dict[str, str]):
    response = await api.post(f"/v1/connections/{CID}/errors/retry", json={}, headers=viewer)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_retrying_a_category_makes_its_records_due_now_and_starts_their_backoff_again(
    api: httpx.AsyncClient, store: Store
):
    before = await _error(api, "contacts", "fd0")
    response = await api.post(
        f"/v1/connections/{CID}/errors/retry", json={"object": "contacts", "category": "validation"}
    )
    assert response.status_code == 202
    assert response.json() == {"retried": 3}
    now = datetime.now(UTC)
    for i in range(3):
        error = await _error(api, "contacts", f"fv{i}")
        assert error["attempts"] == 0
        assert datetime.fromisoformat(error["next_retry_at"]) <= now
    assert await _error(api, "contacts", "fd0") == before  # another category: untouched

    # The reconciler's retry pass publishes both sides of each one it is due for.
    published: list[ChangeEvent] = []

    async def publish(events: list[ChangeEvent]) -> None:
        published.extend(events)

    await publish_retries(store, publish)
    mine = {(e.object_type, e.record_id, e.origin) for e in published if e.connection_id == CID}
    assert {("contacts", f"fv{i}", "retry") for i in range(3)} <= mine
    assert ("contacts", "fd0", "retry") not in mine


async def test_retrying_named_records_retries_those_only(api: httpx.AsyncClient):
    response = await api.post(
        f"/v1/connections/{CID}/errors/retry", json={"record_ids": ["fu0", "h0", "nope"]}
    )
    assert (response.status_code, response.json()) == (202, {"retried": 1})  # h0 is in sync
    assert (await _error(api, "deals", "fu0"))["attempts"] == 0
    assert (await _error(api, "deals", "fp0"))["attempts"] == 1


async def test_an_unknown_category_is_counted_as_the_errors_view_counts_it(api: httpx.AsyncClient):
    response = await api.post(
        f"/v1/connections/{CID}/errors/retry", json={"object": "deals", "category": "unknown"}
    )
    assert response.json() == {"retried": 1}  # fu0, stored without a category


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"object": "leads"}, 422, "unknown_object"),
        ({"record_ids": []}, 422, "invalid_request"),
        ({"objects": ["contacts"]}, 422, "invalid_request"),
    ],
)
async def test_a_retry_that_names_nothing_known_is_refused(
    api: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
):
    response = await api.post(f"/v1/connections/{CID}/errors/retry", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_retrying_on_an_unknown_connection_gets_404(api: httpx.AsyncClient):
    response = await api.post("/v1/connections/nope/errors/retry", json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_connection"


# The writes synced over time ------------------------------------------------------------------


async def test_activity_counts_records_written_into_each_side_per_minute(api: httpx.AsyncClient):
    response = await api.get(
        f"/v1/connections/{QUIET}/activity",
        params={"since": PAST.isoformat(), "until": (PAST + timedelta(minutes=3)).isoformat()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["bucket"], body["object"]) == ("minute", None)
    assert [
        (datetime.fromisoformat(b["start"]), b["into_hubspot"], b["into_app"], b["fields"])
        for b in body["buckets"]
    ] == [
        (PAST, 1, 2, 6),
        (PAST + timedelta(minutes=1), 1, 0, 1),
        (PAST + timedelta(minutes=2), 0, 0, 0),
    ]


async def test_activity_by_the_hour_takes_whole_hours(api: httpx.AsyncClient):
    response = await api.get(
        f"/v1/connections/{QUIET}/activity",
        params={
            "bucket": "hour",
            "since": (PAST + timedelta(minutes=30)).isoformat(),
            "until": (PAST + timedelta(hours=1, minutes=1)).isoformat(),
        },
    )
    body = response.json()
    assert datetime.fromisoformat(body["since"]) == PAST
    assert datetime.fromisoformat(body["until"]) == PAST + timedelta(hours=2)
    assert [(b["into_hubspot"], b["into_app"]) for b in body["buckets"]] == [(2, 2), (0, 1)]


async def test_activity_defaults_to_the_last_hour_and_counts_every_write(api: httpx.AsyncClient):
    body = (await api.get(f"/v1/connections/{CID}/activity")).json()
    assert len(body["buckets"]) == 60
    assert sum(b["into_app"] for b in body["buckets"]) == 7  # h0 twice, h1-h4, the task
    assert sum(b["into_hubspot"] for b in body["buckets"]) == 1
    contacts = await api.get(f"/v1/connections/{CID}/activity", params={"object": "contacts"})
    assert sum(b["into_app"] for b in contacts.json()["buckets"]) == 6


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
        {"since": "2024-01-01T00:00:00Z", "until": "2024-01-03T00:00:00Z"},  # 2880 minutes
        {"until": "9999-12-31T23:59:30Z"},
    ],
)
async def test_an_activity_window_that_is_upside_down_or_too_long_is_refused(
    api: httpx.AsyncClient, params: dict[str, str]
):
    response = await api.get(f"/v1/connections/{CID}/activity", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_range"


async def test_a_viewer_may_read_the_activity_and_a_record(
    api: httpx.AsyncClient, viewer: dict[str, str]
):
    for path in (f"/v1/connections/{CID}/activity", f"/v1/connections/{CID}/records/contacts/h0"):
        assert (await api.get(path, headers=viewer)).status_code == 200
