"""Default mappings, field types and the canonical form both sides' values are compared in."""

from pathlib import Path

import pytest

from schemas.events import Side
from schemas.objects import OBJECT_TYPES
from schemas.settings import Direction, FieldMapping, SyncSettings
from services.domain import mappings_doc
from services.domain.defaults import DEFAULT_MAPPINGS, default_field_types
from services.domain.fieldtypes import APP_TYPES, HUBSPOT_TYPES, record_modified_at
from services.domain.mapping import (
    canonical,
    default_mappings,
    effective_mappings,
    mapping_key,
    to_side,
    writes_into,
)
from services.domain.validation import validate_settings

ROOT = Path(__file__).resolve().parents[2]


def one(object_type: str, hubspot: str) -> list[FieldMapping]:
    return [m for m in effective_mappings(object_type, SyncSettings()) if m.hubspot == hubspot]


def read(object_type: str, hubspot: str, side: Side, raw: object) -> object:
    [mapping] = one(object_type, hubspot)
    name = mapping.hubspot if side is Side.HUBSPOT else mapping.app
    return canonical({name: raw}, [mapping], side)[mapping_key(mapping)]


def write(object_type: str, hubspot: str, side: Side, value: object) -> object:
    [mapping] = one(object_type, hubspot)
    name = mapping.hubspot if side is Side.HUBSPOT else mapping.app
    return to_side({mapping_key(mapping): value}, [mapping], side)[name]


@pytest.mark.parametrize("object_type", OBJECT_TYPES)
def test_every_object_has_default_mappings_with_known_types(object_type: str):
    mappings = DEFAULT_MAPPINGS[object_type]
    assert mappings
    for m in mappings:
        assert m.hubspot_type in HUBSPOT_TYPES
        assert m.app_type in APP_TYPES


@pytest.mark.parametrize("object_type", OBJECT_TYPES)
def test_default_mappings_pass_their_own_validation(object_type: str):
    assert validate_settings(object_type, SyncSettings(), {}, {}) == []


@pytest.mark.parametrize("object_type", OBJECT_TYPES)
def test_default_mappings_validate_in_either_one_way_direction(object_type: str):
    for direction in (Direction.TO_APP, Direction.TO_HUBSPOT):
        assert validate_settings(object_type, SyncSettings(direction=direction), {}, {}) == []


def test_the_mappings_document_is_rendered_from_the_table():
    assert (ROOT / "docs" / "mappings.md").read_text() == mappings_doc.render()


def test_the_mappings_document_has_a_section_per_object():
    text = mappings_doc.render()
    for title in mappings_doc.TITLES.values():
        assert f"## {title}" in text


def test_contact_lifecycle_stage_has_no_dynamics_column_and_is_not_mapped():
    assert all(m.hubspot != "lifecyclestage" for m in DEFAULT_MAPPINGS["contacts"])
    assert default_field_types("contacts", Side.HUBSPOT)["lifecyclestage"] == "enumeration"


def test_default_field_types_cover_the_mapped_fields_of_each_side():
    types = default_field_types("companies", Side.APP)
    assert types["industrycode"] == "picklist"
    assert types["websiteurl"] == "string"
    assert default_field_types("deals", Side.HUBSPOT)["closedate"] == "datetime"


def test_company_industry_maps_hubspot_options_to_dataverse_codes_both_ways():
    assert read("companies", "industry", Side.HUBSPOT, "BANKING") == "16"
    assert read("companies", "industry", Side.APP, 16) == "16"
    assert write("companies", "industry", Side.APP, "16") == 16
    assert write("companies", "industry", Side.HUBSPOT, "16") == "BANKING"


def test_an_option_the_value_mapping_lacks_is_marked_unmapped_on_either_side():
    assert read("companies", "industry", Side.HUBSPOT, "ANIMATION") == {
        "unmapped": "ANIMATION",
        "side": "hubspot",
    }
    assert read("companies", "industry", Side.APP, 33) == {"unmapped": "33", "side": "app"}


def test_unmapped_values_are_never_written():
    [mapping] = one("companies", "industry")
    assert (
        to_side(
            {mapping_key(mapping): {"unmapped": "ANIMATION", "side": "hubspot"}},
            [mapping],
            Side.APP,
        )
        == {}
    )


def test_deal_stage_flows_into_the_app_only_with_seven_stages_on_four_sales_stages():
    [mapping] = one("deals", "dealstage")
    assert mapping.direction is Direction.TO_APP
    assert read("deals", "dealstage", Side.HUBSPOT, "closedwon") == "3"
    assert read("deals", "dealstage", Side.HUBSPOT, "contractsent") == "3"
    assert writes_into(mapping, SyncSettings()) == {Side.APP}


def test_invoice_and_order_statuses_map_to_status_codes():
    assert (
        write(
            "invoices",
            "hs_invoice_status",
            Side.APP,
            read("invoices", "hs_invoice_status", Side.HUBSPOT, "paid"),
        )
        == 100001
    )
    assert read("sales_orders", "hs_pipeline_stage", Side.APP, 100001) == "100001"
    assert write("sales_orders", "hs_pipeline_stage", Side.HUBSPOT, "100001") == "fulfilled"


def test_numbers_from_either_side_compare_equal_whatever_their_form():
    assert read("companies", "numberofemployees", Side.HUBSPOT, "120.0") == "120"
    assert read("companies", "numberofemployees", Side.APP, 120) == "120"


def test_money_is_compared_to_the_cent_as_the_app_column_keeps_it():
    assert read("deals", "amount", Side.HUBSPOT, "1000.555") == "1000.56"
    assert read("deals", "amount", Side.APP, 1000.56) == "1000.56"


def test_numbers_are_written_as_json_numbers_into_the_app_and_as_text_into_hubspot():
    assert write("deals", "amount", Side.APP, "1000.5") == 1000.5
    assert write("companies", "numberofemployees", Side.APP, "120") == 120
    assert write("deals", "amount", Side.HUBSPOT, "1000.5") == "1000.5"


def test_call_duration_is_milliseconds_in_hubspot_and_minutes_in_dynamics():
    assert read("activities", "duration_ms", Side.HUBSPOT, "1800000") == "30"
    assert read("activities", "duration_ms", Side.APP, 30) == "30"
    assert write("activities", "duration_ms", Side.HUBSPOT, "30") == "1800000"
    assert write("activities", "duration_ms", Side.APP, "30") == 30


def test_datetimes_compare_to_the_second_in_utc_from_iso_or_epoch_milliseconds():
    iso = read("activities", "hs_timestamp", Side.HUBSPOT, "2024-05-01T10:00:00.250Z")
    epoch = read("activities", "hs_timestamp", Side.HUBSPOT, "1714557600000")
    app = read("activities", "hs_timestamp", Side.APP, "2024-05-01T12:00:00+02:00")
    assert iso == epoch == app == "2024-05-01T10:00:00Z"


def test_a_hubspot_datetime_pairs_with_a_dynamics_date_as_a_day():
    assert read("deals", "closedate", Side.HUBSPOT, "2024-05-01T00:00:00Z") == "2024-05-01"
    assert read("deals", "closedate", Side.APP, "2024-05-01") == "2024-05-01"
    assert write("deals", "closedate", Side.APP, "2024-05-01") == "2024-05-01"


def test_a_hubspot_date_written_into_a_dynamics_datetime_is_midnight_utc():
    mapping = FieldMapping(
        hubspot="renewal", app="new_renewal", hubspot_type="date", app_type="datetime"
    )
    assert to_side({mapping_key(mapping): "2024-05-01"}, [mapping], Side.APP) == {
        "new_renewal": "2024-05-01T00:00:00Z"
    }


def test_booleans_are_true_or_false_on_both_sides():
    mapping = FieldMapping(
        hubspot="optout", app="donotemail", hubspot_type="bool", app_type="boolean"
    )
    key = mapping_key(mapping)
    assert canonical({"optout": "true"}, [mapping], Side.HUBSPOT)[key] is True
    assert canonical({"donotemail": False}, [mapping], Side.APP)[key] is False
    assert to_side({key: True}, [mapping], Side.HUBSPOT) == {"optout": "true"}
    assert to_side({key: True}, [mapping], Side.APP) == {"donotemail": True}


def test_company_domain_and_dynamics_web_address_agree_when_they_name_one_host():
    assert read("companies", "domain", Side.APP, "https://www.Acme.com/about") == "acme.com"
    assert read("companies", "domain", Side.HUBSPOT, "acme.com") == "acme.com"
    assert write("companies", "domain", Side.APP, "acme.com") == "https://acme.com"
    assert write("companies", "domain", Side.HUBSPOT, "acme.com") == "acme.com"


def test_a_number_synced_one_way_into_a_text_field_is_compared_as_its_text():
    mapping = FieldMapping(
        hubspot="annualrevenue",
        app="new_revenue_text",
        direction=Direction.TO_APP,
        hubspot_type="number",
        app_type="string",
    )
    key = mapping_key(mapping)
    assert canonical({"annualrevenue": "1000.50"}, [mapping], Side.HUBSPOT)[key] == "1000.5"
    assert canonical({"new_revenue_text": " 1000.5 "}, [mapping], Side.APP)[key] == "1000.5"


def test_an_untyped_custom_mapping_compares_values_as_they_come():
    mapping = FieldMapping(hubspot="x_custom", app="new_custom")
    key = mapping_key(mapping)
    assert canonical({"x_custom": "  a "}, [mapping], Side.HUBSPOT)[key] == "a"
    assert canonical({"new_custom": 5}, [mapping], Side.APP)[key] == 5
    assert to_side({key: 5}, [mapping], Side.HUBSPOT) == {"x_custom": 5}


def test_a_users_mapping_of_built_in_fields_takes_their_types_and_value_mapping():
    settings = SyncSettings(mappings=[FieldMapping(hubspot="industry", app="industrycode")])
    [mapping] = effective_mappings("companies", settings)
    assert (mapping.hubspot_type, mapping.app_type) == ("enumeration", "picklist")
    assert mapping.value_map is not None
    assert mapping.value_map["BANKING"] == "16"


def test_a_users_own_value_mapping_is_kept():
    settings = SyncSettings(
        mappings=[FieldMapping(hubspot="industry", app="industrycode", value_map={"RETAIL": 22})]
    )
    [mapping] = effective_mappings("companies", settings)
    assert mapping.value_map == {"RETAIL": "22"}


def test_default_mappings_carry_their_types():
    [email] = [m for m in default_mappings("contacts") if m.hubspot == "email"]
    assert (email.hubspot_type, email.app_type) == ("string", "string")


def test_a_mappings_direction_narrows_the_syncs_and_never_widens_it():
    to_app = FieldMapping(hubspot="a", app="b", direction=Direction.TO_APP)
    assert writes_into(to_app, SyncSettings()) == {Side.APP}
    assert writes_into(to_app, SyncSettings(direction=Direction.TO_HUBSPOT)) == frozenset()
    two_way = FieldMapping(hubspot="a", app="b", direction=Direction.TWO_WAY)
    assert writes_into(two_way, SyncSettings(direction=Direction.TO_APP)) == {Side.APP}


def test_a_dont_sync_mapping_is_written_into_neither_side():
    mapping = FieldMapping(hubspot="a", app="b", rule="dont_sync")
    assert writes_into(mapping, SyncSettings()) == frozenset()


def test_a_records_modification_time_is_read_from_each_apps_stamp():
    hubspot = record_modified_at(Side.HUBSPOT, {"hs_lastmodifieddate": "2024-05-01T10:00:00Z"})
    app = record_modified_at(Side.APP, {"modifiedon": "2024-05-01T11:00:00Z"})
    assert hubspot is not None
    assert app is not None
    assert app > hubspot
    assert record_modified_at(Side.APP, {}) is None


def test_unmapped_values_of_the_two_sides_never_agree_even_when_they_read_the_same():
    mapping = FieldMapping(
        hubspot="tier",
        app="new_tier",
        hubspot_type="enumeration",
        app_type="picklist",
        value_map={"gold": "1"},
    )
    key = mapping_key(mapping)
    hubspot = canonical({"tier": "5"}, [mapping], Side.HUBSPOT)[key]
    app = canonical({"new_tier": 5}, [mapping], Side.APP)[key]
    assert hubspot != app
