"""The status API's record views — errors by category, the record view, association mappings —
against a real PostgreSQL, with links stored the way the writers and the processor store them."""

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from schemas.events import Side
from schemas.settings import SyncSettings, SyncState
from services.connectors.errors import FIX_STEPS, Category
from services.status_api.app import create_app
from services.store.migrate import migrate
from services.store.outcomes import LinkOutcome
from services.store.repository import Store
from services.tokens import create_token
from tests.helpers import app_connection

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-secret"}
CID = "c-views"  # holds the records
ASSOC = "c-views-assoc"  # holds syncs in every state, and no records
IN_SYNC = 250
VALIDATION = 7  # more failures than a group shows examples of


async def _connection(store: Store, cid: str) -> None:
    await store.create_connection(app_connection(cid))


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
    )


async def _seed(store: Store) -> None:
    await _connection(store, CID)
    for obj in ("contacts", "deals", "invoices"):
        await store.put_sync(CID, obj, SyncSettings())
        await store.set_sync_state(CID, obj, SyncState.SYNCING)
    await store.apply_outcomes(
        [
            LinkOutcome(CID, "contacts", f"h{i}", f"a{i}", "in_sync", {"email:emailaddress1": i})
            for i in range(IN_SYNC)
        ]
    )
    await store.apply_outcomes(
        [_failing("contacts", f"fv{i}", "validation", f"bad email {i}") for i in range(VALIDATION)]
        + [_failing("contacts", f"fd{i}", "duplicate", "already exists") for i in range(2)]
        + [_failing("deals", "fp0", "permission", "needs prvWriteOpportunity")]
        + [_failing("invoices", "fu0", None, "no result returned for record")]
    )
    await store.record_exclusions(
        CID, "contacts", Side.HUBSPOT, {"x0": "no valid email", "x1": "filtered out"}
    )
    await store.mark_deleted(CID, "contacts", Side.APP, ["a0", "a1"])
    await store.link_pairs(CID, "contacts", [("p0", "pa0")])
    await store.apply_outcomes([LinkOutcome(CID, "deals", "dh1", "da1", "in_sync", {})])
    await store.add_association_waits(CID, "contacts", Side.HUBSPOT, [("h2", "companies")])
    await store.add_association_waits(
        CID, "deals", Side.APP, [("da1", "contacts"), ("da1", "companies")]
    )

    await _connection(store, ASSOC)
    for obj, state in (
        ("contacts", SyncState.SYNCING),
        ("companies", SyncState.OFF),
        ("deals", SyncState.INITIAL_SYNC),
        ("invoices", SyncState.DRAFT),
        ("activities", SyncState.SYNCING),
        ("products", SyncState.SYNCING),
    ):
        await store.put_sync(ASSOC, obj, SyncSettings())
        if state is not SyncState.DRAFT:
            await store.set_sync_state(ASSOC, obj, state)


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


async def _all_records(api: httpx.AsyncClient, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every record the view gives for the filters, following the cursors; and the pages."""
    records: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(f"/v1/connections/{CID}/records", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["records"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return records, pages
        assert pages < 100, "the cursors do not come to an end"


def _by_hubspot_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["hubspot_id"]: r for r in records if r["hubspot_id"] is not None}


# Errors ------------------------------------------------------------------------------------


async def test_failing_records_are_grouped_by_object_and_category_largest_first(
    api: httpx.AsyncClient,
):
    response = await api.get(f"/v1/connections/{CID}/errors")
    assert response.status_code == 200
    body = response.json()
    counts = [(g["object"], g["category"], g["count"]) for g in body["groups"]]
    assert counts[0] == ("contacts", "validation", VALIDATION)
    assert sorted(counts) == [
        ("contacts", "duplicate", 2),
        ("contacts", "validation", VALIDATION),
        ("deals", "permission", 1),
        ("invoices", "unknown", 1),
    ]
    assert body["failing"] == VALIDATION + 4


async def test_each_error_group_has_its_fix_steps_and_a_few_examples(api: httpx.AsyncClient):
    body = (await api.get(f"/v1/connections/{CID}/errors", params={"object": "contacts"})).json()
    groups = {g["category"]: g for g in body["groups"]}
    validation = groups["validation"]
    assert validation["fix"] == FIX_STEPS[Category.VALIDATION]
    assert groups["duplicate"]["fix"] == FIX_STEPS[Category.DUPLICATE]
    assert len(validation["examples"]) == 5
    example = validation["examples"][0]
    assert example["hubspot_id"] in {f"fv{i}" for i in range(VALIDATION)}
    assert example["app_id"] is None
    assert example["message"] == f"bad email {example['hubspot_id'][2:]}"
    assert example["attempts"] == 1


async def test_the_next_retry_of_an_error_group_is_its_soonest(api: httpx.AsyncClient):
    body = (await api.get(f"/v1/connections/{CID}/errors", params={"object": "contacts"})).json()
    duplicate = next(g for g in body["groups"] if g["category"] == "duplicate")
    retries = [e["next_retry_at"] for e in duplicate["examples"]]
    assert len(retries) == 2
    assert None not in retries
    assert duplicate["next_retry_at"] == min(retries, key=datetime.fromisoformat)


async def test_a_failure_without_a_known_category_gets_the_generic_fix(api: httpx.AsyncClient):
    body = (await api.get(f"/v1/connections/{CID}/errors", params={"object": "invoices"})).json()
    assert [(g["category"], g["fix"]) for g in body["groups"]] == [
        ("unknown", FIX_STEPS[Category.UNKNOWN])
    ]


async def test_the_object_filter_keeps_the_errors_of_that_object(api: httpx.AsyncClient):
    body = (await api.get(f"/v1/connections/{CID}/errors", params={"object": "deals"})).json()
    assert [(g["object"], g["category"]) for g in body["groups"]] == [("deals", "permission")]
    assert body["groups"][0]["examples"][0]["message"] == "needs prvWriteOpportunity"


async def test_a_connection_without_failures_has_no_error_groups(api: httpx.AsyncClient):
    body = (await api.get(f"/v1/connections/{ASSOC}/errors")).json()
    assert body == {"connection_id": ASSOC, "failing": 0, "groups": []}


# The record view ---------------------------------------------------------------------------


async def test_the_record_view_pages_through_every_record_once(api: httpx.AsyncClient):
    records, pages = await _all_records(api, object="contacts")
    ids = [(r["hubspot_id"], r["app_id"]) for r in records]
    assert len(ids) == len(set(ids))
    expected = (
        {(f"h{i}", f"a{i}") for i in range(IN_SYNC)}
        | {(f"fv{i}", None) for i in range(VALIDATION)}
        | {("fd0", None), ("fd1", None), ("x0", None), ("x1", None), ("p0", "pa0")}
    )
    assert set(ids) == expected
    assert pages == 3  # 262 records, 100 a page by default


async def test_a_small_limit_pages_a_filtered_view_without_gaps(api: httpx.AsyncClient):
    records, pages = await _all_records(api, object="contacts", status="failing", limit=4)
    assert sorted(r["hubspot_id"] for r in records) == sorted(
        [f"fv{i}" for i in range(VALIDATION)] + ["fd0", "fd1"]
    )
    assert pages == 3
    assert {r["status"] for r in records} == {"failing"}


async def test_the_status_filter_keeps_records_of_that_status(api: httpx.AsyncClient):
    deleted, _ = await _all_records(api, status="deleted")
    assert sorted(r["app_id"] for r in deleted) == ["a0", "a1"]
    assert {r["deleted_side"] for r in deleted} == {"app"}
    in_sync, _ = await _all_records(api, status="in_sync", limit=1000)
    assert len(in_sync) == IN_SYNC - 2 + 1  # the contacts not deleted, and the deal


async def test_a_failing_record_shows_its_error_and_fix(api: httpx.AsyncClient):
    records = _by_hubspot_id((await _all_records(api, object="deals"))[0])
    failing = records["fp0"]
    assert failing["status"] == "failing"
    assert failing["error"]["category"] == "permission"
    assert failing["error"]["message"] == "needs prvWriteOpportunity"
    assert failing["error"]["fix"] == FIX_STEPS[Category.PERMISSION]
    assert failing["error"]["next_retry_at"] is not None
    assert failing["last_synced_at"] is None
    assert records["dh1"]["error"] is None


async def test_synced_excluded_and_pending_records_show_what_applies_to_them(
    api: httpx.AsyncClient,
):
    records = _by_hubspot_id((await _all_records(api, object="contacts"))[0])
    synced = records["h5"]
    assert (synced["status"], synced["app_id"], synced["error"]) == ("in_sync", "a5", None)
    assert synced["last_synced_at"] is not None
    assert synced["waiting_for"] == []
    excluded = records["x0"]
    assert (excluded["status"], excluded["reason"], excluded["app_id"]) == (
        "excluded",
        "no valid email",
        None,
    )
    assert records["p0"]["status"] == "pending"
    assert records["p0"]["last_synced_at"] is None
    assert records["h0"]["status"] == "deleted"
    assert records["h0"]["deleted_side"] == "app"


async def test_a_record_waiting_for_its_associated_records_names_their_objects(
    api: httpx.AsyncClient,
):
    contacts = _by_hubspot_id((await _all_records(api, object="contacts"))[0])
    assert contacts["h2"]["waiting_for"] == ["companies"]
    deals = _by_hubspot_id((await _all_records(api, object="deals"))[0])
    assert deals["dh1"]["waiting_for"] == ["companies", "contacts"]


async def test_since_and_until_split_the_records_by_when_they_last_changed(
    api: httpx.AsyncClient,
):
    records, _ = await _all_records(api, limit=1000)
    times = sorted({datetime.fromisoformat(r["updated_at"]) for r in records})
    assert len(times) > 2  # the records were stored in several transactions
    boundary = times[len(times) // 2]
    since, _ = await _all_records(api, since=boundary.isoformat(), limit=1000)
    until, _ = await _all_records(api, until=boundary.isoformat(), limit=1000)

    def ids(rs: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(r["object"], r["hubspot_id"] or r["app_id"]) for r in rs}

    assert ids(since) == ids(
        r for r in records if datetime.fromisoformat(r["updated_at"]) >= boundary
    )
    assert ids(until) == ids(
        r for r in records if datetime.fromisoformat(r["updated_at"]) < boundary
    )
    assert ids(since)
    assert ids(until)
    assert not ids(since) & ids(until)
    assert ids(since) | ids(until) == ids(records)


async def test_a_time_without_an_offset_is_taken_as_utc(api: httpx.AsyncClient):
    records, _ = await _all_records(api, limit=1000)
    times = sorted({datetime.fromisoformat(r["updated_at"]) for r in records})
    boundary = times[len(times) // 2]
    naive = boundary.astimezone(UTC).replace(tzinfo=None).isoformat()
    with_offset, _ = await _all_records(api, since=boundary.isoformat(), limit=1000)
    without, _ = await _all_records(api, since=naive, limit=1000)
    assert without == with_offset
    assert 0 < len(without) < len(records)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"after:-1").decode()}, "invalid_cursor"),
        (
            {"cursor": base64.urlsafe_b64encode(b"after:99999999999999999999").decode()},
            "invalid_cursor",
        ),
        ({"since": "yesterday"}, "invalid_request"),
        ({"until": "2024-13-45T00:00:00Z"}, "invalid_request"),
        ({"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"}, "invalid_range"),
        ({"limit": "0"}, "invalid_request"),
        ({"limit": "1001"}, "invalid_request"),
    ],
)
async def test_bad_view_parameters_get_422_with_the_error_body(
    api: httpx.AsyncClient, params: dict[str, str], code: str
):
    response = await api.get(f"/v1/connections/{CID}/records", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_an_unknown_status_gets_422_listing_the_allowed_ones(api: httpx.AsyncClient):
    response = await api.get(f"/v1/connections/{CID}/records", params={"status": "broken"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_status"
    assert {"in_sync", "failing", "excluded", "deleted", "pending"} <= set(error["allowed"])
    assert "in_sync" in error["message"]


# Association mappings ----------------------------------------------------------------------


async def _associations(api: httpx.AsyncClient, obj: str) -> dict[str, dict[str, Any]]:
    response = await api.get(f"/v1/connections/{ASSOC}/syncs/{obj}/associations")
    assert response.status_code == 200, response.text
    return {a["object"]: a for a in response.json()["associations"]}


async def test_an_association_with_a_running_sync_syncs(api: httpx.AsyncClient):
    deals = (await _associations(api, "contacts"))["deals"]
    assert (deals["syncs"], deals["reason"], deals["held_by"]) == (True, None, "deals")
    assert deals["dynamics_lookups"] == [
        {
            "entity_set": "opportunities",
            "lookup": "parentcontactid",
            "navigation": "parentcontactid",
        }
    ]


async def test_an_association_with_a_sync_that_is_off_says_so(api: httpx.AsyncClient):
    companies = (await _associations(api, "contacts"))["companies"]
    assert companies["syncs"] is False
    assert companies["reason"] == "the companies sync is off"
    assert companies["held_by"] == "contacts"
    assert companies["hubspot_types"] == [
        {"from_object": "contacts", "to_object": "companies", "type_id": 1, "label": "Primary"}
    ]
    assert companies["dynamics_lookups"][0]["lookup"] == "parentcustomerid"
    assert any("only the primary company syncs" in n for n in companies["notes"])


async def test_an_association_without_the_other_sync_says_there_is_none(
    api: httpx.AsyncClient,
):
    found = await _associations(api, "contacts")
    assert found["sales_orders"]["syncs"] is False
    assert found["sales_orders"]["reason"] == "the connection has no sales_orders sync"
    assert found["invoices"]["reason"] == "the invoices sync has not started (draft)"
    assert set(found) == {"companies", "deals", "invoices", "sales_orders", "activities"}


async def test_a_sync_that_is_off_carries_none_of_its_associations(api: httpx.AsyncClient):
    found = await _associations(api, "companies")
    assert set(found) == {"contacts", "deals", "activities"}
    assert {a["syncs"] for a in found.values()} == {False}
    assert found["contacts"]["reason"] == "the companies sync is off"
    assert found["contacts"]["held_by"] == "contacts"


async def test_an_association_follows_the_associated_sync_when_it_is_turned_on(
    api: httpx.AsyncClient, store: Store
):
    await store.set_sync_state(ASSOC, "companies", SyncState.SYNCING)
    try:
        companies = (await _associations(api, "contacts"))["companies"]
    finally:
        await store.set_sync_state(ASSOC, "companies", SyncState.OFF)
    assert (companies["syncs"], companies["reason"]) == (True, None)


async def test_activities_note_that_dynamics_notes_have_no_lookup_to_deals(
    api: httpx.AsyncClient,
):
    deals = (await _associations(api, "activities"))["deals"]
    assert {d["entity_set"] for d in deals["dynamics_lookups"]} == {
        "tasks",
        "phonecalls",
        "appointments",
    }
    assert any("annotations" in n for n in deals["notes"])
    assert {t["label"] for t in deals["hubspot_types"]} == {"default"}


async def test_an_object_without_associations_has_none(api: httpx.AsyncClient):
    assert await _associations(api, "products") == {}


# Access and unknown things -----------------------------------------------------------------

PATHS = [
    f"/v1/connections/{CID}/errors",
    f"/v1/connections/{CID}/records",
    f"/v1/connections/{CID}/syncs/contacts/associations",
]


@pytest.mark.parametrize("path", PATHS)
async def test_a_viewer_may_read_the_views(
    api: httpx.AsyncClient, viewer: dict[str, str], path: str
):
    assert (await api.get(path, headers=viewer)).status_code == 200
    refused = await api.post(f"/v1/connections/{CID}/syncs/contacts/off", headers=viewer)
    assert refused.status_code == 403


@pytest.mark.parametrize("path", PATHS)
async def test_the_views_need_a_token(api: httpx.AsyncClient, path: str):
    response = await api.get(path, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/connections/nope/errors", "unknown_connection"),
        ("/v1/connections/nope/records", "unknown_connection"),
        ("/v1/connections/nope/syncs/contacts/associations", "unknown_connection"),
        (f"/v1/connections/{CID}/errors?object=leads", "unknown_object"),
        (f"/v1/connections/{CID}/records?object=leads", "unknown_object"),
        (f"/v1/connections/{CID}/syncs/leads/associations", "unknown_object"),
        (f"/v1/connections/{ASSOC}/syncs/sales_orders/associations", "unknown_sync"),
    ],
)
async def test_unknown_connections_objects_and_syncs_get_404(
    api: httpx.AsyncClient, path: str, code: str
):
    response = await api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == code
