"""Matching on the initial sync: contacts by email, companies by domain or name, products by
SKU or name; the other objects are not matched by key."""

import pytest

from schemas.events import Side
from services.domain.matching import (
    MATCH_FIELDS,
    MATCH_KEYS,
    match_all,
    match_fields,
    match_key,
    match_keys,
)
from services.domain.normalisers import normalise_code, normalise_domain, normalise_name


def company(name: str | None = None, domain: str | None = None) -> dict[str, str | None]:
    return {"name": name, "domain": domain}


def account(name: str | None = None, url: str | None = None) -> dict[str, str | None]:
    return {"name": name, "websiteurl": url}


def test_company_with_same_domain_matches():
    result = match_all(
        "companies",
        [("1", company("Acme", "acme.com"))],
        [("a", account("ACME Corp", "https://www.acme.com/"))],
    )
    assert result.pairs == [("1", "a")]
    assert result.matched_by[("1", "a")] == "domain"


def test_company_with_same_name_but_other_domain_matches():
    result = match_all(
        "companies",
        [("1", company("Acme Inc.", "acme.com"))],
        [("a", account("acme  inc", "https://acme.de"))],
    )
    assert result.pairs == [("1", "a")]
    assert result.matched_by[("1", "a")] == "name"


def test_company_with_same_domain_but_other_name_matches():
    result = match_all(
        "companies", [("1", company("Acme", "acme.com"))], [("a", account("Acme GmbH", "acme.com"))]
    )
    assert result.pairs == [("1", "a")]


def test_company_without_domain_matches_by_name():
    result = match_all("companies", [("1", company("Globex"))], [("a", account("globex"))])
    assert result.pairs == [("1", "a")]


def test_a_record_is_matched_at_most_once():
    result = match_all(
        "companies",
        [("1", company("Acme", "acme.com")), ("2", company("Acme", "other.com"))],
        [("a", account("Acme", "acme.com"))],
    )
    assert result.pairs == [("1", "a")]


def test_domain_matches_are_tried_before_name_matches():
    result = match_all(
        "companies",
        [("1", company("Initech", "acme.com")), ("2", company("Acme", None))],
        [("a", account("Acme", "acme.com"))],
    )
    assert result.pairs == [("1", "a")]


def test_two_companies_with_one_domain_are_duplicates_not_matches():
    result = match_all(
        "companies",
        [("1", company("A", "acme.com")), ("2", company("B", "www.acme.com"))],
        [("a", account("C", "acme.com"))],
    )
    assert result.pairs == []
    assert result.duplicate_ids(Side.HUBSPOT) == {"1", "2"}


def test_a_record_whose_key_several_records_share_on_the_other_side_is_held_back():
    result = match_all(
        "companies",
        [("1", company("A", "acme.com")), ("2", company("B", "acme.com"))],
        [("a", account("C", "acme.com"))],
    )
    assert result.held[Side.APP] == {"a"}
    assert result.skipped_ids(Side.APP) == {"a"}
    assert result.skipped_ids(Side.HUBSPOT) == {"1", "2"}


def test_two_companies_sharing_a_name_are_not_duplicates_when_nothing_else_has_it():
    result = match_all(
        "companies", [("1", company("Acme")), ("2", company("Acme"))], [("a", account("Other"))]
    )
    assert result.duplicate_ids(Side.HUBSPOT) == set()
    assert result.pairs == []


def test_two_companies_sharing_a_name_another_record_has_are_duplicates():
    result = match_all(
        "companies", [("1", company("Acme")), ("2", company("acme"))], [("a", account("Acme"))]
    )
    assert result.pairs == []
    assert result.duplicate_ids(Side.HUBSPOT) == {"1", "2"}
    assert result.held[Side.APP] == {"a"}


def test_products_match_by_sku():
    result = match_all(
        "products",
        [("1", {"name": "Widget", "hs_sku": "w-1"})],
        [("a", {"name": "Widget Pro", "productnumber": "W-1 "})],
    )
    assert result.pairs == [("1", "a")]
    assert result.matched_by[("1", "a")] == "sku"


def test_products_without_a_shared_sku_match_by_name():
    result = match_all(
        "products",
        [("1", {"name": "Widget", "hs_sku": None})],
        [("a", {"name": "widget", "productnumber": "DYN-17"})],
    )
    assert result.pairs == [("1", "a")]


def test_two_products_with_one_sku_are_duplicates():
    result = match_all(
        "products",
        [("1", {"hs_sku": "W-1"}), ("2", {"hs_sku": "w-1"})],
        [("a", {"productnumber": "W-1"})],
    )
    assert result.pairs == []
    assert result.duplicate_ids(Side.HUBSPOT) == {"1", "2"}


@pytest.mark.parametrize("object_type", ["deals", "invoices", "sales_orders", "activities"])
def test_objects_that_sync_by_their_links_are_not_matched(object_type: str):
    props = {"name": "Same", "dealname": "Same", "hs_number": "1", "invoicenumber": "1"}
    result = match_all(object_type, [("1", props)], [("a", props)])
    assert result.pairs == []
    assert match_key(object_type, Side.HUBSPOT, props) is None
    assert object_type not in MATCH_KEYS


def test_the_first_match_field_of_each_object_is_kept_for_lookups():
    assert MATCH_FIELDS["contacts"] == {Side.HUBSPOT: "email", Side.APP: "emailaddress1"}
    assert MATCH_FIELDS["companies"] == {Side.HUBSPOT: "domain", Side.APP: "websiteurl"}
    assert match_fields("companies", Side.APP) == ["name", "websiteurl"]


def test_a_record_has_a_value_per_match_key_in_key_order():
    props = {"name": " Acme Inc. ", "domain": "WWW.acme.com"}
    assert match_keys("companies", Side.HUBSPOT, props) == {
        "domain": "acme.com",
        "name": "acme inc",
    }
    assert match_key("companies", Side.HUBSPOT, props) == "acme.com"


def test_a_domain_is_looked_up_by_the_web_addresses_an_app_may_hold():
    domain = MATCH_KEYS["companies"][0]
    values = domain.lookup_values("acme.com")
    assert "https://www.acme.com/" in values
    assert "acme.com" in values


def test_domains_lose_scheme_www_path_port_and_case():
    assert normalise_domain("HTTPS://www.Acme.com:443/about?x=1#top") == "acme.com"
    assert normalise_domain("acme.com.") == "acme.com"
    assert normalise_domain("  ") is None


def test_names_lose_case_extra_spaces_and_trailing_punctuation():
    assert normalise_name("  Acme,   Inc. ") == "acme, inc"
    assert normalise_name("...") is None


def test_product_codes_ignore_case_and_spaces():
    assert normalise_code(" w-1 ") == "W-1"
    assert normalise_code(1234) == "1234"
