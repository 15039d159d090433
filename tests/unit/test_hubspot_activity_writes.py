"""What the HubSpot connector sends for an activity it creates: HubSpot requires every
engagement's `hs_timestamp` on create."""

from datetime import datetime

from schemas.commands import WriteOp
from services.connectors.base import WriteRequest
from services.connectors.hubspot import HubSpotConnector


def _input(properties: dict[str, object], op: WriteOp = WriteOp.CREATE) -> dict[str, object]:
    connector = HubSpotConnector("http://127.0.0.1:1", "token")
    record_id = None if op is WriteOp.CREATE else "notes/7"
    write = WriteRequest("ref-1", op, record_id, properties, kind="note")
    entity = connector._entity_of_write("activities", write)
    action = "create" if op is WriteOp.CREATE else "update"
    return connector._input(entity, connector.entity_tag("activities", entity), action, write)


def test_an_activity_created_without_its_time_is_given_the_time_it_was_copied():
    sent = _input({"subject": "Call notes"})
    stamp = sent["properties"]["hs_timestamp"]  # type: ignore[index]
    assert datetime.fromisoformat(stamp).tzinfo is not None


def test_an_activity_time_given_is_kept_and_an_update_gets_none_added():
    given = _input({"subject": "Call notes", "hs_timestamp": "2026-01-02T03:04:05Z"})
    assert given["properties"]["hs_timestamp"] == "2026-01-02T03:04:05Z"  # type: ignore[index]
    updated = _input({"subject": "Renamed"}, WriteOp.UPDATE)
    assert "hs_timestamp" not in updated["properties"]  # type: ignore[operator]
