"""Rules that keep records out of the sync until they first synced: the email rule and filters
on either side, with reasons people can read."""

from typing import Any

import pytest

from schemas.events import Side
from schemas.settings import Filter, SideFilters, SyncSettings
from services.domain.decide import LinkState, decide
from services.domain.rules import exclusion_reason, filter_matches


def passes(op: str, value: Any, record_value: Any) -> bool:
    return filter_matches(Filter(property="f", op=op, value=value), {"f": record_value})  # type: ignore[arg-type]


def reason(flt: Filter, props: dict[str, Any], side: Side = Side.HUBSPOT) -> str | None:
    filters = SideFilters(hubspot=[flt]) if side is Side.HUBSPOT else SideFilters(app=[flt])
    return exclusion_reason("companies", SyncSettings(filters=filters), side, props)


def test_eq_ignores_case_and_spaces():
    assert passes("eq", "customer", " Customer ")
    assert not passes("eq", "customer", "lead")


def test_eq_compares_numbers_as_numbers():
    assert passes("eq", 100, "100.0")


def test_neq_lets_blank_records_through():
    assert passes("neq", "lead", None)
    assert not passes("neq", "lead", "LEAD")


@pytest.mark.parametrize(
    ("value", "expected"), [("", False), ("  ", False), ("x", True), (0, True)]
)
def test_has_value_treats_blank_text_as_no_value(value: Any, expected: bool):
    assert passes("has_value", None, value) is expected
    assert passes("not_has_value", None, value) is not expected


def test_in_and_not_in_check_a_list_of_values():
    assert passes("in", ["customer", "evangelist"], "Customer")
    assert not passes("in", ["customer"], None)
    assert passes("not_in", ["lead"], "customer")
    assert passes("not_in", ["lead"], None)
    assert not passes("not_in", ["lead"], "lead")


def test_contains_finds_text_ignoring_case():
    assert passes("contains", "acme", "The ACME company")
    assert not passes("contains", "acme", None)


def test_gt_and_lt_compare_numbers():
    assert passes("gt", 10, "11")
    assert not passes("gt", 10, "9.5")
    assert passes("lt", "10", 9)


def test_gt_and_lt_compare_dates_whatever_their_form():
    assert passes("gt", "2024-01-01", "2024-05-01T10:00:00Z")
    assert passes("lt", "2024-01-01", "1672531200000")  # 2023-01-01 in epoch milliseconds
    assert not passes("gt", "2024-01-01", "2023-12-31")


def test_gt_leaves_out_records_without_a_comparable_value():
    assert not passes("gt", 10, None)
    assert not passes("gt", 10, "many")


def test_the_reason_names_the_side_the_field_and_what_the_filter_needs():
    found = reason(Filter(property="lifecyclestage", value="customer"), {"lifecyclestage": "lead"})
    assert found == "left out by the HubSpot filter: lifecyclestage must be 'customer'"


def test_the_reason_leaves_out_the_records_own_value_so_reasons_group():
    flt = Filter(property="industrycode", op="in", value=[1, 2])
    first = reason(flt, {"industrycode": 3}, Side.APP)
    second = reason(flt, {"industrycode": 4}, Side.APP)
    assert first == second == "left out by the app filter: industrycode must be one of 1, 2"


def test_app_filters_apply_to_app_records_only():
    flt = Filter(property="statecode", value=0)
    assert reason(flt, {"statecode": 1}, Side.APP) is not None
    settings = SyncSettings(filters=SideFilters(app=[flt]))
    assert exclusion_reason("companies", settings, Side.HUBSPOT, {}) is None


def test_the_email_rule_applies_to_contacts_only_by_default():
    assert exclusion_reason("companies", SyncSettings(), Side.HUBSPOT, {}) is None
    assert exclusion_reason("contacts", SyncSettings(), Side.APP, {"emailaddress1": "x"})


def test_the_email_rule_can_be_switched_on_for_other_objects():
    settings = SyncSettings(only_with_email=True)
    assert exclusion_reason("companies", settings, Side.HUBSPOT, {}) is not None


def test_a_filtered_out_record_is_not_created_on_the_other_side():
    settings = SyncSettings(filters=SideFilters(hubspot=[Filter(property="type", value="PARTNER")]))
    decision = decide("companies", settings, Side.HUBSPOT, {}, None, None, {"type": "VENDOR"})
    assert decision.excluded is not None
    assert decision.writes == []


def test_a_record_that_synced_keeps_syncing_when_it_no_longer_passes_the_filter():
    settings = SyncSettings(filters=SideFilters(hubspot=[Filter(property="type", value="PARTNER")]))
    snap = {"name:name": "Acme"}
    link = LinkState("1", "a", hubspot_values=snap, app_values=snap)
    decision = decide(
        "companies", settings, Side.HUBSPOT, {"name:name": "Acme 2"}, link, None, {"type": "VENDOR"}
    )
    assert decision.excluded is None
    assert [w.values for w in decision.writes] == [{"name:name": "Acme 2"}]
