"""Webhook payloads of both apps become change events; malformed ones are refused."""

import pytest

from schemas.events import ChangeKind, Side
from services.connectors.dynamics_webhooks import parse_dynamics
from services.connectors.errors import PayloadError
from services.connectors.hubspot_webhooks import parse_hubspot


def hubspot_event(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "eventId": 1,
        "subscriptionId": 9,
        "portalId": 900001,
        "appId": 1000001,
        "occurredAt": 1_700_000_000_000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 42,
        "propertyName": "firstname",
        "propertyValue": "Ann",
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }
    event.update(overrides)
    return event


def test_property_change_becomes_a_hint_with_the_changed_property():
    [event], ignored = parse_hubspot([hubspot_event()], app_id="1000001")
    assert ignored == 0
    assert (event.object_type, event.side, event.record_id) == ("contacts", Side.HUBSPOT, "42")
    assert event.properties == {"firstname": "Ann"}
    assert not event.complete
    assert not event.self_originated


def test_change_made_by_our_own_app_is_marked_as_an_echo():
    [event], _ = parse_hubspot(
        [hubspot_event(changeSource="INTEGRATION", sourceId="1000001")], app_id="1000001"
    )
    assert event.self_originated


def test_change_by_another_integration_is_not_an_echo():
    [event], _ = parse_hubspot(
        [hubspot_event(changeSource="INTEGRATION", sourceId="777")], app_id="1000001"
    )
    assert not event.self_originated


def test_generic_object_events_are_read_by_object_type_id():
    [event], _ = parse_hubspot(
        [hubspot_event(subscriptionType="object.creation", objectTypeId="0-48", objectId=5)],
        app_id=None,
    )
    assert (event.object_type, event.record_id) == ("activities", "calls/5")


def test_deletion_and_merge_events_carry_their_kind():
    deleted, merged = parse_hubspot(
        [
            hubspot_event(subscriptionType="contact.deletion", eventId=2),
            hubspot_event(
                subscriptionType="contact.merge",
                eventId=3,
                primaryObjectId=42,
                mergedObjectIds=[42, 43],
            ),
        ],
        app_id=None,
    )[0]
    assert deleted.kind is ChangeKind.DELETE
    assert merged.kind is ChangeKind.MERGE
    assert merged.merged_ids == ["43"]


def test_a_merge_that_makes_a_new_record_moves_the_primary_and_the_merged_ones_to_it():
    [merged], _ = parse_hubspot(
        [
            hubspot_event(
                subscriptionType="contact.merge",
                objectId=42,
                primaryObjectId=42,
                mergedObjectIds=[43],
                newObjectId=50,
            )
        ],
        app_id=None,
    )
    # The record the merge produced is the one that lives on; the primary's pair goes first.
    assert merged.record_id == "50"
    assert merged.merged_ids == ["42", "43"]


def test_unknown_subscription_types_are_counted_not_failed():
    events, ignored = parse_hubspot([hubspot_event(subscriptionType="ticket.creation")], None)
    assert (events, ignored) == ([], 1)


@pytest.mark.parametrize(
    "body", [{"not": "a list"}, ["not an object"], [{"subscriptionType": "contact.creation"}]]
)
def test_malformed_hubspot_bodies_are_refused(body: object):
    with pytest.raises(PayloadError):
        parse_hubspot(body, None)


def dynamics_context(**overrides: object) -> dict[str, object]:
    context: dict[str, object] = {
        "MessageName": "Update",
        "PrimaryEntityName": "contact",
        "PrimaryEntityId": "0b9c1a52-0000-0000-0000-000000000001",
        "InitiatingUserId": "11111111-1111-1111-1111-111111111111",
        "UserId": "11111111-1111-1111-1111-111111111111",
        "CorrelationId": "c0",
        "InputParameters": [
            {
                "key": "Target",
                "value": {"Attributes": [{"key": "jobtitle", "value": "CTO"}]},
            }
        ],
    }
    context.update(overrides)
    return context


def test_dynamics_update_becomes_a_hint_for_its_connection():
    [event], _ = parse_dynamics(dynamics_context(), "c1", app_user_id="22222222-aaaa")
    assert (event.side, event.connection_id, event.object_type) == (Side.APP, "c1", "contacts")
    assert event.properties == {"jobtitle": "CTO"}
    assert not event.self_originated


def test_dynamics_change_by_the_connections_application_user_is_an_echo():
    [event], _ = parse_dynamics(
        dynamics_context(), "c1", app_user_id="11111111-1111-1111-1111-111111111111"
    )
    assert event.self_originated


def test_dynamics_activity_records_get_compound_ids():
    [event], _ = parse_dynamics(
        dynamics_context(PrimaryEntityName="phonecall", MessageName="Delete"), "c1", None
    )
    assert event.record_id == "phonecalls/0b9c1a52-0000-0000-0000-000000000001"
    assert event.kind is ChangeKind.DELETE


def test_malformed_dynamics_bodies_are_refused():
    with pytest.raises(PayloadError):
        parse_dynamics(["not", "a", "context"], "c1", None)
    with pytest.raises(PayloadError):
        parse_dynamics({"MessageName": "Create"}, "c1", None)
