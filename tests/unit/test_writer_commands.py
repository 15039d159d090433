"""How the writer reads a write command: the audit entries of a landed write, and what a
create repeated for a record linked since still has to write."""

from schemas.commands import WriteCommand, WriteOp
from schemas.events import Side
from services.domain.decide import LinkState
from services.writer.worker import audit_entries, not_yet_synced


def command(**overrides: object) -> WriteCommand:
    fields: dict[str, object] = {
        "connection_id": "c1",
        "object_type": "deals",
        "target": Side.APP,
        "op": WriteOp.CREATE,
        "source_id": "h1",
        "properties": {"name": "Big deal", "estimatedvalue": 100.0},
        "synced": {
            "dealname:name": "Big deal",
            "amount:estimatedvalue": 100.0,
            "@companies": "h9",
        },
        "caused_by": "hubspot:1",
    }
    fields.update(overrides)
    return WriteCommand.model_validate(fields)


def test_audit_names_each_field_written_and_skips_the_association():
    entries = audit_entries(command(), WriteOp.CREATE, Side.APP, None)
    assert [(e.field, e.old_value, e.new_value) for e in entries] == [
        ("name", None, "Big deal"),
        ("estimatedvalue", None, 100.0),
    ]


def test_audit_of_an_update_lists_only_the_fields_that_changed():
    link = LinkState(
        "h1", "a1", app_values={"dealname:name": "Big deal", "amount:estimatedvalue": 90}
    )
    entries = audit_entries(command(op=WriteOp.UPDATE), WriteOp.UPDATE, Side.APP, link)
    assert [(e.field, e.old_value, e.new_value) for e in entries] == [("estimatedvalue", 90, 100.0)]


def test_a_repeated_create_writes_only_what_the_target_does_not_hold_as_synced():
    snapshot = {"dealname:name": "Big deal", "amount:estimatedvalue": 90}
    assert not_yet_synced(command(), Side.APP, snapshot) == {"estimatedvalue": 100.0}
    synced_all = {"dealname:name": "Big deal", "amount:estimatedvalue": 100.0}
    assert not_yet_synced(command(), Side.APP, synced_all) == {}
    assert not_yet_synced(command(), Side.APP, None) == command().properties


def test_hubspot_field_names_come_from_the_left_of_the_key():
    into_hubspot = command(
        target=Side.HUBSPOT, properties={"dealname": "Big deal", "amount": 100.0}
    )
    assert not_yet_synced(into_hubspot, Side.HUBSPOT, {"dealname:name": "Big deal"}) == {
        "amount": 100.0
    }
