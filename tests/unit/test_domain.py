"""The sync rules as pure functions: no broker, database or HTTP."""

from schemas.commands import WriteOp
from schemas.events import Side
from schemas.settings import Direction, FieldMapping, Filter, SideFilters, SyncSettings
from services.domain.decide import LinkState, decide, merge
from services.domain.mapping import canonical, effective_mappings, to_side
from services.domain.matching import match_all
from services.domain.rules import exclusion_reason

CONTACTS = effective_mappings("contacts", SyncSettings())


def values(**kw: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = dict.fromkeys(canonical({}, CONTACTS, Side.HUBSPOT))
    for name, value in kw.items():
        key = next(k for k in base if k.startswith(f"{name}:"))
        base[key] = value
    return base


def test_canonical_values_of_both_sides_compare_equal_when_fields_hold_the_same():
    hubspot = canonical({"email": "a@x.io", "firstname": " Ann "}, CONTACTS, Side.HUBSPOT)
    app = canonical({"emailaddress1": "a@x.io", "firstname": "Ann"}, CONTACTS, Side.APP)
    assert hubspot == app


def test_canonical_values_are_written_with_the_target_sides_names():
    props = to_side(values(email="a@x.io", phone="1"), CONTACTS, Side.APP)
    assert props["emailaddress1"] == "a@x.io"
    assert props["telephone1"] == "1"


def test_switched_off_mapping_is_not_synced():
    settings = SyncSettings(
        mappings=[
            FieldMapping(hubspot="email", app="emailaddress1"),
            FieldMapping(hubspot="phone", app="telephone1", enabled=False),
        ]
    )
    assert [m.hubspot for m in effective_mappings("contacts", settings)] == ["email"]


def test_contact_without_valid_email_is_excluded_by_default():
    reason = exclusion_reason("contacts", SyncSettings(), Side.HUBSPOT, {"email": "not-an-email"})
    assert reason is not None
    assert "email" in reason


def test_contact_without_email_syncs_when_the_rule_is_switched_off():
    settings = SyncSettings(only_with_email=False)
    assert exclusion_reason("contacts", settings, Side.HUBSPOT, {}) is None


def test_filter_leaves_out_records_that_do_not_match():
    settings = SyncSettings(
        filters=SideFilters(hubspot=[Filter(property="lifecyclestage", value="customer")])
    )
    props = {"email": "a@x.io", "lifecyclestage": "lead"}
    assert exclusion_reason("contacts", settings, Side.HUBSPOT, props) is not None
    props["lifecyclestage"] = "customer"
    assert exclusion_reason("contacts", settings, Side.HUBSPOT, props) is None


def test_contacts_match_by_email_ignoring_case_and_spaces():
    result = match_all(
        "contacts",
        [("1", {"email": "Ann@X.io "}), ("2", {"email": "bob@x.io"})],
        [("a", {"emailaddress1": "ann@x.io"}), ("b", {"emailaddress1": "carl@x.io"})],
    )
    assert result.pairs == [("1", "a")]


def test_two_records_with_one_email_on_a_side_are_duplicates_not_matches():
    result = match_all(
        "contacts",
        [("1", {"email": "ann@x.io"}), ("2", {"email": "ANN@x.io"})],
        [("a", {"emailaddress1": "ann@x.io"})],
    )
    assert result.pairs == []
    assert result.duplicate_ids(Side.HUBSPOT) == {"1", "2"}


def test_new_record_is_created_on_the_other_side():
    decision = decide(
        "contacts",
        SyncSettings(),
        Side.HUBSPOT,
        values(email="a@x.io"),
        None,
        None,
        {"email": "a@x.io"},
    )
    assert [(w.target, w.op) for w in decision.writes] == [(Side.APP, WriteOp.CREATE)]
    assert decision.writes[0].values == {next(iter(values())): "a@x.io"}


def test_one_way_sync_never_writes_into_the_source_side():
    settings = SyncSettings(direction=Direction.TO_HUBSPOT)
    decision = decide(
        "contacts", settings, Side.HUBSPOT, values(email="a@x.io"), None, None, {"email": "a@x.io"}
    )
    assert decision.writes == []


def test_change_already_in_the_snapshot_is_an_echo():
    snap = values(email="a@x.io", firstname="Ann")
    link = LinkState("1", "a", hubspot_values=snap, app_values=snap)
    decision = decide("contacts", SyncSettings(), Side.APP, dict(snap), link)
    assert decision.unchanged
    assert decision.writes == []


def test_changed_field_is_written_to_the_linked_record_only():
    snap = values(email="a@x.io", firstname="Ann")
    link = LinkState("1", "a", hubspot_values=snap, app_values=snap)
    decision = decide(
        "contacts", SyncSettings(), Side.APP, values(email="a@x.io", firstname="Anna"), link
    )
    [write] = decision.writes
    assert (write.target, write.op, write.target_id) == (Side.HUBSPOT, WriteOp.UPDATE, "1")
    assert list(write.values.values()) == ["Anna"]


def test_merge_keeps_the_winners_value_and_fills_blanks_from_the_other_side():
    settings = SyncSettings(conflict_winner="hubspot")
    hubspot = values(email="a@x.io", firstname="Ann", lastname=None)
    app = values(email="a@x.io", firstname="Annie", lastname="Lee")
    into_hubspot, into_app, agreed = merge(settings, Side.HUBSPOT, hubspot, app)
    assert list(into_app.values()) == ["Ann"]
    assert list(into_hubspot.values()) == ["Lee"]
    assert "email:emailaddress1" in agreed


def test_when_the_winner_has_no_value_the_other_side_keeps_its_own():
    settings = SyncSettings(conflict_winner="app", direction=Direction.TO_APP)
    hubspot = values(email="a@x.io", phone="555")
    app = values(email="a@x.io", phone=None)
    link = LinkState("1", "a")
    decision = decide("contacts", settings, Side.HUBSPOT, hubspot, link, app)
    [write] = decision.writes
    assert write.target is Side.APP
    assert list(write.values.values()) == ["555"]


def test_matched_pair_that_already_agrees_is_linked_without_a_write():
    same = values(email="a@x.io", firstname="Ann")
    decision = decide("contacts", SyncSettings(), Side.HUBSPOT, same, LinkState("1", "a"), same)
    [write] = decision.writes
    assert write.op is WriteOp.LINK
    assert write.synced == same
