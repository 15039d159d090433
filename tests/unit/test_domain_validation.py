"""Settings are checked before they are saved: each problem names where, what and why."""

from schemas.settings import Direction, FieldMapping, Filter, SideFilters, SyncSettings
from services.domain.validation import SettingsProblem, validate_settings, with_field_types

HUBSPOT = {
    "notes_text": "string",
    "score": "number",
    "renewal": "date",
    "renewal_at": "datetime",
    "vip": "bool",
    "tier": "enumeration",
}
APP = {
    "new_text": "string",
    "new_memo": "memo",
    "new_score": "integer",
    "new_amount": "money",
    "new_renewal": "dateonly",
    "new_renewal_at": "datetime",
    "new_vip": "boolean",
    "new_tier": "picklist",
    "new_lookup": "lookup",
}


def problems(*mappings: FieldMapping, **settings: object) -> list[SettingsProblem]:
    body = SyncSettings.model_validate({**settings, "mappings": [m.model_dump() for m in mappings]})
    return validate_settings("contacts", body, HUBSPOT, APP)


def codes(found: list[SettingsProblem]) -> list[str]:
    return [p.code for p in found]


def test_compatible_two_way_pairs_are_accepted():
    assert (
        problems(
            FieldMapping(hubspot="notes_text", app="new_memo"),
            FieldMapping(hubspot="score", app="new_amount"),
            FieldMapping(hubspot="renewal", app="new_renewal"),
            FieldMapping(hubspot="renewal_at", app="new_renewal_at"),
            FieldMapping(hubspot="vip", app="new_vip"),
            FieldMapping(hubspot="tier", app="new_tier", value_map={"gold": "1", "silver": "2"}),
        )
        == []
    )


def test_a_date_pairs_with_a_datetime_both_ways():
    assert problems(FieldMapping(hubspot="renewal", app="new_renewal_at")) == []
    assert problems(FieldMapping(hubspot="renewal_at", app="new_renewal")) == []


def test_an_incompatible_two_way_pair_is_refused_naming_both_fields_and_types():
    [problem] = problems(FieldMapping(hubspot="score", app="new_text"))
    assert problem.path == "mappings[0]"
    assert problem.code == "incompatible_types"
    assert "HubSpot score (number)" in problem.message
    assert "app new_text (string)" in problem.message
    assert "to_app" in problem.message  # says how it could sync instead


def test_a_pair_of_different_types_may_sync_one_way_into_a_text_field():
    assert problems(FieldMapping(hubspot="score", app="new_text", direction=Direction.TO_APP)) == []
    assert problems(FieldMapping(hubspot="score", app="new_memo"), direction="to_app") == []


def test_a_one_way_pair_into_a_field_that_is_not_text_is_refused():
    [problem] = problems(
        FieldMapping(hubspot="notes_text", app="new_score", direction=Direction.TO_APP)
    )
    assert problem.code == "one_way_into_non_text"
    assert "app new_score is integer" in problem.message


def test_the_syncs_direction_counts_when_the_mapping_has_none():
    [problem] = problems(FieldMapping(hubspot="score", app="new_text"), direction="to_hubspot")
    assert problem.code == "one_way_into_non_text"


def test_enumeration_and_picklist_need_a_value_mapping():
    [problem] = problems(FieldMapping(hubspot="tier", app="new_tier"))
    assert problem.code == "value_map_missing"
    assert "tier" in problem.message
    assert "new_tier" in problem.message


def test_a_two_way_value_mapping_must_be_one_to_one():
    [problem] = problems(
        FieldMapping(hubspot="tier", app="new_tier", value_map={"gold": "1", "platinum": "1"})
    )
    assert problem.code == "value_map_not_one_to_one"
    assert "'gold', 'platinum'" in problem.message


def test_a_one_way_value_mapping_into_the_app_may_be_many_to_one():
    mapping = FieldMapping(
        hubspot="tier",
        app="new_tier",
        direction=Direction.TO_APP,
        value_map={"gold": "1", "platinum": "1"},
    )
    assert problems(mapping) == []


def test_a_many_to_one_value_mapping_cannot_sync_into_hubspot():
    mapping = FieldMapping(
        hubspot="tier",
        app="new_tier",
        direction=Direction.TO_HUBSPOT,
        value_map={"gold": "1", "platinum": "1"},
    )
    assert codes(problems(mapping)) == ["value_map_not_one_to_one"]


def test_an_enumeration_may_sync_one_way_into_an_app_text_field_without_a_value_mapping():
    assert problems(FieldMapping(hubspot="tier", app="new_text", direction=Direction.TO_APP)) == []


def test_a_value_mapping_on_fields_that_are_not_choices_is_refused():
    found = problems(FieldMapping(hubspot="notes_text", app="new_text", value_map={"a": "b"}))
    assert codes(found) == ["value_map_not_applicable"]


def test_an_unknown_rule_name_is_refused():
    mapping = FieldMapping.model_construct(
        hubspot="notes_text", app="new_text", enabled=True, direction=None, rule="loudest_wins"
    )
    settings = SyncSettings.model_construct(
        direction=Direction.TWO_WAY,
        conflict_winner="hubspot",
        mappings=[mapping],
        only_with_email=None,
        filters=SideFilters(),
    )
    [problem] = validate_settings("contacts", settings, HUBSPOT, APP)
    assert problem.code == "unknown_rule"
    assert "loudest_wins" in problem.message


def test_two_mappings_writing_one_field_are_refused():
    found = problems(
        FieldMapping(hubspot="notes_text", app="new_text"),
        FieldMapping(hubspot="firstname", app="new_text"),
    )
    assert codes(found) == ["duplicate_target"]
    assert found[0].path == "mappings[1]"
    assert "mappings[0]" in found[0].message


def test_two_mappings_reading_one_field_into_different_fields_are_fine():
    assert (
        problems(
            FieldMapping(hubspot="notes_text", app="new_text", direction=Direction.TO_APP),
            FieldMapping(hubspot="notes_text", app="new_memo", direction=Direction.TO_APP),
        )
        == []
    )


def test_mappings_that_write_one_field_from_opposite_directions_do_not_collide():
    assert (
        problems(
            FieldMapping(hubspot="notes_text", app="new_text", direction=Direction.TO_APP),
            FieldMapping(hubspot="firstname", app="new_text", direction=Direction.TO_HUBSPOT),
        )
        == []
    )


def test_a_switched_off_mapping_is_not_checked():
    assert problems(FieldMapping(hubspot="score", app="new_text", enabled=False)) == []


def test_a_field_unknown_to_its_side_is_refused():
    [problem] = problems(FieldMapping(hubspot="nope", app="new_text"))
    assert problem.code == "unknown_field"
    assert "'nope'" in problem.message


def test_a_field_type_that_cannot_be_mapped_is_refused():
    [problem] = problems(FieldMapping(hubspot="notes_text", app="new_lookup"))
    assert problem.code == "unsupported_type"


def test_built_in_fields_are_known_without_being_looked_up():
    settings = SyncSettings(mappings=[FieldMapping(hubspot="firstname", app="firstname")])
    assert validate_settings("contacts", settings, {}, {}) == []


def test_a_filter_on_a_field_unknown_to_its_side_is_refused():
    settings = SyncSettings(filters=SideFilters(app=[Filter(property="lifecyclestage")]))
    [problem] = validate_settings("contacts", settings, {}, {})
    assert problem.path == "filters.app[0]"
    assert problem.code == "unknown_filter_field"


def test_a_filter_on_a_built_in_hubspot_field_is_accepted():
    flt = Filter(property="lifecyclestage", value="customer")
    settings = SyncSettings(filters=SideFilters(hubspot=[flt]))
    assert validate_settings("contacts", settings, {}, {}) == []


def test_greater_than_works_on_numbers_and_dates_only():
    ok = SyncSettings(filters=SideFilters(hubspot=[Filter(property="score", op="gt", value=5)]))
    assert validate_settings("contacts", ok, HUBSPOT, APP) == []
    bad = SyncSettings(
        filters=SideFilters(hubspot=[Filter(property="notes_text", op="lt", value=5)])
    )
    assert codes(validate_settings("contacts", bad, HUBSPOT, APP)) == ["bad_filter"]


def test_in_needs_a_list_and_eq_needs_a_value():
    settings = SyncSettings(
        filters=SideFilters(
            hubspot=[
                Filter(property="tier", op="in", value="gold"),
                Filter(property="tier", op="eq"),
            ]
        )
    )
    found = validate_settings("contacts", settings, HUBSPOT, APP)
    assert [p.path for p in found] == ["filters.hubspot[0]", "filters.hubspot[1]"]


def test_settings_take_the_looked_up_types_of_custom_fields():
    settings = SyncSettings(mappings=[FieldMapping(hubspot="score", app="new_amount")])
    typed = with_field_types(settings, HUBSPOT, APP)
    assert typed.mappings is not None
    assert (typed.mappings[0].hubspot_type, typed.mappings[0].app_type) == ("number", "money")


def test_a_problem_reads_as_json():
    [problem] = problems(FieldMapping(hubspot="nope", app="new_text"))
    assert problem.as_dict()["path"] == "mappings[0]"
