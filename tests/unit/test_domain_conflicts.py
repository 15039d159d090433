"""Per-field rules, conflicts and direction in merge (first sync) and decide (every change)."""

from datetime import UTC, datetime, timedelta

from schemas.commands import WriteOp
from schemas.events import Side
from schemas.settings import Direction, SyncSettings
from services.domain.decide import Decision, LinkState, decide, merge

PHONE = "phone:telephone1"
TITLE = "jobtitle:jobtitle"
EMAIL = "email:emailaddress1"
EARLY = datetime(2024, 5, 1, tzinfo=UTC)
LATE = EARLY + timedelta(hours=1)


def settings(rule: str = "default", **kw: object) -> SyncSettings:
    direction = kw.pop("field_direction", None)
    return SyncSettings.model_validate(
        {
            **kw,
            "mappings": [
                {"hubspot": "email", "app": "emailaddress1"},
                {"hubspot": "phone", "app": "telephone1", "rule": rule, "direction": direction},
                {"hubspot": "jobtitle", "app": "jobtitle"},
            ],
        }
    )


def rec(phone: str | None = None, title: str | None = None) -> dict[str, str | None]:
    return {EMAIL: "a@x.io", PHONE: phone, TITLE: title}


def first_sync(s: SyncSettings, hubspot: dict, app: dict, **kw: object) -> Decision:
    return decide("contacts", s, Side.HUBSPOT, hubspot, LinkState("1", "a"), app, **kw)  # type: ignore[arg-type]


def writes(decision: Decision) -> dict[Side, dict]:
    return {w.target: w.values for w in decision.writes if w.op is not WriteOp.LINK}


# --- first sync: merge ---------------------------------------------------------------------


def test_by_default_the_conflict_winners_value_is_kept():
    hubspot_in, app_in, _ = merge(settings(), Side.HUBSPOT, rec("1"), rec("2"))
    assert app_in == {PHONE: "1"}
    assert hubspot_in == {}
    hubspot_in, app_in, _ = merge(settings(conflict_winner="app"), Side.HUBSPOT, rec("1"), rec("2"))
    assert hubspot_in == {PHONE: "2"}


def test_prefer_app_unless_blank_keeps_the_apps_value_over_the_syncs_winner():
    s = settings("prefer_app_unless_blank", conflict_winner="hubspot")
    hubspot_in, app_in, _ = merge(s, Side.HUBSPOT, rec("1"), rec("2"))
    assert hubspot_in == {PHONE: "2"}
    assert app_in == {}


def test_prefer_app_unless_blank_takes_hubspots_value_where_the_app_has_none():
    s = settings("prefer_app_unless_blank")
    hubspot_in, app_in, _ = merge(s, Side.HUBSPOT, rec("1"), rec(None))
    assert app_in == {PHONE: "1"}
    assert hubspot_in == {}


def test_prefer_hubspot_unless_blank_mirrors_it():
    s = settings("prefer_hubspot_unless_blank", conflict_winner="app")
    app_in, hubspot_in, _ = merge(s, Side.APP, rec("2"), rec("1"))  # this side is the app
    assert app_in == {PHONE: "1"}
    assert hubspot_in == {}


def test_always_app_clears_hubspot_when_the_app_is_blank():
    s = settings("always_app")
    app_in, hubspot_in, _ = merge(s, Side.APP, rec(None), rec("1"))
    assert hubspot_in == {PHONE: None}
    assert app_in == {}


def test_always_hubspot_overwrites_the_app_even_when_the_app_wins_conflicts():
    s = settings("always_hubspot", conflict_winner="app")
    _, app_in, _ = merge(s, Side.HUBSPOT, rec("1"), rec("2"))
    assert app_in == {PHONE: "1"}


def test_most_recent_keeps_the_value_of_the_record_changed_last():
    s = settings("most_recent", conflict_winner="hubspot")
    hubspot_in, app_in, _ = merge(
        s, Side.HUBSPOT, rec("1"), rec("2"), modified_at=EARLY, other_modified_at=LATE
    )
    assert hubspot_in == {PHONE: "2"}
    assert app_in == {}


def test_most_recent_does_not_let_a_blank_win_on_a_first_sync():
    s = settings("most_recent")
    hubspot_in, _, _ = merge(
        s, Side.HUBSPOT, rec(None), rec("2"), modified_at=LATE, other_modified_at=EARLY
    )
    assert hubspot_in == {PHONE: "2"}


def test_most_recent_without_both_times_falls_back_to_the_conflict_winner():
    s = settings("most_recent", conflict_winner="app")
    hubspot_in, _, _ = merge(s, Side.HUBSPOT, rec("1"), rec("2"), modified_at=LATE)
    assert hubspot_in == {PHONE: "2"}


def test_dont_sync_never_writes_the_field():
    s = settings("dont_sync")
    hubspot_in, app_in, agreed = merge(s, Side.HUBSPOT, rec("1"), rec(None))
    assert PHONE not in hubspot_in
    assert PHONE not in app_in
    assert PHONE not in agreed


def test_a_rule_never_writes_against_the_syncs_direction():
    s = settings("always_app", direction=Direction.TO_APP)
    hubspot_in, app_in, _ = merge(s, Side.HUBSPOT, rec("1"), rec("2"))
    assert hubspot_in == {}
    assert app_in == {}


def test_a_fields_own_direction_narrows_where_it_is_written():
    s = settings(field_direction="to_hubspot", conflict_winner="hubspot")
    hubspot_in, app_in, _ = merge(s, Side.HUBSPOT, rec("1", "Dev"), rec("2", None))
    assert PHONE not in app_in  # hubspot wins, but the field only flows into HubSpot
    assert app_in == {TITLE: "Dev"}
    assert hubspot_in == {}


def test_a_first_sync_writes_both_sides_under_their_rules():
    s = settings("prefer_app_unless_blank")
    decision = first_sync(s, rec("1", "Dev"), rec("2", None))
    assert writes(decision) == {Side.APP: {TITLE: "Dev"}, Side.HUBSPOT: {PHONE: "2"}}


def test_a_first_sync_passes_the_modification_times_to_most_recent():
    s = settings("most_recent")
    decision = first_sync(s, rec("1"), rec("2"), modified_at=EARLY, counterpart_modified_at=LATE)
    assert writes(decision) == {Side.HUBSPOT: {PHONE: "2"}}


# --- continuous sync: decide with snapshots -------------------------------------------------


def synced(phone: str | None = "1", title: str | None = "Dev") -> LinkState:
    snap = rec(phone, title)
    return LinkState("1", "a", hubspot_values=snap, app_values=dict(snap))


def change(
    s: SyncSettings, side: Side, values: dict, other: dict | None = None, **kw: object
) -> Decision:
    return decide("contacts", s, side, values, synced(), other, **kw)  # type: ignore[arg-type]


def test_a_change_on_one_side_flows_to_the_other_by_default():
    decision = change(settings(), Side.APP, rec("9", "Dev"))
    assert writes(decision) == {Side.HUBSPOT: {PHONE: "9"}}


def test_a_cleared_field_clears_the_other_side_by_default():
    decision = change(settings(), Side.HUBSPOT, rec(None, "Dev"))
    assert writes(decision) == {Side.APP: {PHONE: None}}


def test_a_field_changed_on_both_sides_is_a_conflict_the_winner_resolves():
    decision = change(
        settings(conflict_winner="app"), Side.HUBSPOT, rec("8", "Dev"), rec("9", "Dev")
    )
    [write] = decision.writes
    assert (write.target, write.op, write.target_id) == (Side.HUBSPOT, WriteOp.UPDATE, "1")
    assert write.values == {PHONE: "9"}


def test_a_conflict_the_source_side_wins_is_written_across():
    decision = change(
        settings(conflict_winner="hubspot"), Side.HUBSPOT, rec("8", "Dev"), rec("9", "Dev")
    )
    assert writes(decision) == {Side.APP: {PHONE: "8"}}


def test_a_conflict_where_the_winner_cleared_the_field_keeps_the_others_value():
    decision = change(
        settings(conflict_winner="hubspot"), Side.HUBSPOT, rec(None, "Dev"), rec("9", "Dev")
    )
    assert writes(decision) == {Side.HUBSPOT: {PHONE: "9"}}


def test_changes_to_different_fields_on_both_sides_both_flow():
    decision = change(settings(), Side.HUBSPOT, rec("8", "Dev"), rec("1", "Lead"))
    assert writes(decision) == {Side.APP: {PHONE: "8"}, Side.HUBSPOT: {TITLE: "Lead"}}


def test_both_sides_changed_to_the_same_value_only_moves_the_snapshots():
    decision = change(settings(), Side.HUBSPOT, rec("8", "Dev"), rec("8", "Dev"))
    [write] = decision.writes
    assert write.op is WriteOp.LINK
    assert write.synced == {PHONE: "8"}


def test_most_recent_resolves_a_conflict_by_modification_time_even_to_a_blank():
    decision = change(
        settings("most_recent", conflict_winner="app"),
        Side.HUBSPOT,
        rec(None, "Dev"),
        rec("9", "Dev"),
        modified_at=LATE,
        counterpart_modified_at=EARLY,
    )
    assert writes(decision) == {Side.APP: {PHONE: None}}


def test_prefer_app_unless_blank_reverts_a_hubspot_edit_while_the_app_has_a_value():
    decision = change(settings("prefer_app_unless_blank"), Side.HUBSPOT, rec("8", "Dev"))
    assert writes(decision) == {Side.HUBSPOT: {PHONE: "1"}}


def test_prefer_app_unless_blank_lets_a_hubspot_value_fill_a_blank_app_field():
    link = LinkState("1", "a", hubspot_values=rec(None, "Dev"), app_values=rec(None, "Dev"))
    s = settings("prefer_app_unless_blank")
    decision = decide("contacts", s, Side.HUBSPOT, rec("8", "Dev"), link)
    assert writes(decision) == {Side.APP: {PHONE: "8"}}


def test_always_app_sends_a_cleared_app_field_to_hubspot():
    decision = change(settings("always_app"), Side.APP, rec(None, "Dev"))
    assert writes(decision) == {Side.HUBSPOT: {PHONE: None}}


def test_always_app_ignores_hubspot_edits_in_a_sync_into_the_app():
    s = settings("always_app", direction=Direction.TO_APP)
    decision = change(s, Side.HUBSPOT, rec("8", "Dev"))
    assert decision.writes == []
    assert decision.unchanged


def test_dont_sync_leaves_a_changed_field_where_it_is():
    decision = change(settings("dont_sync"), Side.HUBSPOT, rec("8", "Dev"))
    assert decision.writes == []
    assert decision.unchanged


def test_the_syncs_direction_caps_conflict_resolution():
    s = settings(conflict_winner="app", direction=Direction.TO_APP)
    decision = change(s, Side.HUBSPOT, rec("8", "Dev"), rec("9", "Dev"))
    assert decision.writes == []


def test_without_the_other_sides_record_the_snapshot_stands_for_it():
    decision = change(settings(conflict_winner="app"), Side.HUBSPOT, rec("8", "Dev"))
    assert writes(decision) == {Side.APP: {PHONE: "8"}}


# --- value mappings --------------------------------------------------------------------------

INDUSTRY = "industry:industrycode"
COMPANY = SyncSettings.model_validate(
    {"mappings": [{"hubspot": "industry", "app": "industrycode"}]}
)


def test_a_value_without_a_counterpart_is_not_written_and_the_decision_says_why():
    decision = decide(
        "companies",
        COMPANY,
        Side.HUBSPOT,
        {INDUSTRY: {"unmapped": "ANIMATION", "side": "hubspot"}},
        None,
        None,
        {},
    )
    [write] = decision.writes
    assert write.op is WriteOp.CREATE
    assert write.values == {}
    [note] = decision.notes
    assert "ANIMATION" in note
    assert "industrycode" in note


def test_an_unmapped_value_that_wins_a_conflict_leaves_the_other_side_alone():
    decision = decide(
        "companies",
        COMPANY,
        Side.HUBSPOT,
        {INDUSTRY: {"unmapped": "ANIMATION", "side": "hubspot"}},
        LinkState("1", "a"),
        {INDUSTRY: "16"},
    )
    assert writes(decision) == {}
    assert decision.notes


def test_a_mapped_value_overwrites_an_unmapped_one_where_it_wins():
    s = COMPANY.model_copy(update={"conflict_winner": "app"})
    decision = decide(
        "companies",
        s,
        Side.HUBSPOT,
        {INDUSTRY: {"unmapped": "ANIMATION", "side": "hubspot"}},
        LinkState("1", "a"),
        {INDUSTRY: "16"},
    )
    assert writes(decision) == {Side.HUBSPOT: {INDUSTRY: "16"}}


# --- new records -----------------------------------------------------------------------------


def test_a_new_record_is_created_without_fields_that_may_not_flow_into_the_other_side():
    s = settings(field_direction="to_hubspot")
    decision = decide("contacts", s, Side.HUBSPOT, rec("1", "Dev"), None, None, {"email": "a@x.io"})
    [write] = decision.writes
    assert write.values == {EMAIL: "a@x.io", TITLE: "Dev"}
    assert PHONE not in write.synced


def test_a_new_record_is_created_without_dont_sync_fields():
    decision = decide(
        "contacts",
        settings("dont_sync"),
        Side.APP,
        rec("1"),
        None,
        None,
        {"emailaddress1": "a@x.io"},
    )
    assert PHONE not in decision.writes[0].values


def test_decide_applies_the_default_mappings_directions_when_the_settings_have_none():
    values = {"hs_number:invoicenumber": "INV-1", "hs_title:name": "March"}
    decision = decide("invoices", SyncSettings(), Side.HUBSPOT, values, None, None, {})
    assert decision.writes[0].values == {"hs_title:name": "March"}  # Dataverse numbers invoices
