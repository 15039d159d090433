"""The seed data both sandboxes load: one world seen from two sides."""

import re

import pytest

from schemas.events import Side
from services.domain.matching import normalise_email
from services.sandbox.seeding import (
    ACTIVITY_KINDS,
    CURRENCIES,
    DEAL_STAGES,
    INDUSTRIES,
    INVOICE_STATUSES,
    LIFECYCLE_STAGES,
    MATCH_FIELDS,
    NEUTRAL_FIELDS,
    OBJECT_TYPES,
    SALES_ORDER_STATUSES,
    Dataset,
    SeedRecord,
    exists_on,
    generate_dataset,
)
from services.sandbox.seeding import Side as SideName

COUNTS = {
    "companies": 400,
    "contacts": 2000,
    "products": 300,
    "deals": 400,
    "invoices": 200,
    "sales_orders": 200,
    "activities": 400,
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
EMAIL = re.compile(r"^[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+$")


@pytest.fixture(scope="module")
def hubspot() -> Dataset:
    return generate_dataset("hubspot", COUNTS, seed=7)


@pytest.fixture(scope="module")
def app() -> Dataset:
    return generate_dataset("app", COUNTS, seed=7)


def index_of(key: str) -> int:
    return int(key.split("-")[1])


def originals(dataset: Dataset, object_type: str) -> dict[int, SeedRecord]:
    """Records by entity index, duplicates left out."""
    return {index_of(r.key): r for r in dataset.records[object_type] if not r.key.endswith("-dup")}


def shared(
    hubspot: Dataset, app: Dataset, object_type: str
) -> list[tuple[int, SeedRecord, SeedRecord]]:
    hs, ap = originals(hubspot, object_type), originals(app, object_type)
    return [(i, hs[i], ap[i]) for i in sorted(hs.keys() & ap.keys())]


# -- determinism -----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_dataset(hubspot: Dataset) -> None:
    assert generate_dataset("hubspot", COUNTS, seed=7) == hubspot


def test_another_seed_gives_the_same_keys_with_other_values(hubspot: Dataset) -> None:
    other = generate_dataset("hubspot", COUNTS, seed=8)
    for object_type in OBJECT_TYPES:
        mine, theirs = hubspot.records[object_type], other.records[object_type]
        assert [r.key for r in mine] == [r.key for r in theirs]
        differing = sum(a.fields != b.fields for a, b in zip(mine, theirs, strict=True))
        assert differing > len(mine) * 0.9, object_type


def test_an_entity_does_not_depend_on_how_many_are_generated() -> None:
    small = originals(generate_dataset("app", {"contacts": 100}, seed=3), "contacts")
    large = originals(generate_dataset("app", {"contacts": 1000, "deals": 50}, seed=3), "contacts")
    assert all(large[i].fields == record.fields for i, record in small.items())


# -- which side holds what -------------------------------------------------------------------


@pytest.mark.parametrize("object_type", OBJECT_TYPES)
def test_index_is_on_both_sides_when_i_mod_4_is_0_or_1_else_only_in_hubspot_or_only_in_the_app(
    hubspot: Dataset, app: Dataset, object_type: str
) -> None:
    n = COUNTS[object_type]
    assert set(originals(hubspot, object_type)) == {i for i in range(n) if i % 4 in (0, 1, 2)}
    assert set(originals(app, object_type)) == {i for i in range(n) if i % 4 in (0, 1, 3)}


def test_half_of_the_entities_are_shared_and_each_side_holds_three_quarters(
    hubspot: Dataset, app: Dataset
) -> None:
    n = COUNTS["contacts"]
    assert len(shared(hubspot, app, "contacts")) == n // 2
    assert len(originals(hubspot, "contacts")) == len(originals(app, "contacts")) == n * 3 // 4


def test_exists_on_tells_which_side_holds_an_index() -> None:
    assert [exists_on("hubspot", i) for i in range(4)] == [True, True, True, False]
    assert [exists_on("app", i) for i in range(4)] == [True, True, False, True]


@pytest.mark.parametrize("side", ["hubspot", "app"])
def test_counts_are_entity_indices_each_side_holding_three_quarters_plus_duplicates(
    side: SideName,
) -> None:
    counts = {"companies": 200, "contacts": 1000, "products": 100, "deals": 40}
    dataset = generate_dataset(side, counts, seed=1)
    for object_type, n in counts.items():
        present = [i for i in range(n) if exists_on(side, i)]
        duplicated = object_type in MATCH_FIELDS and not (
            side == "hubspot" and object_type == "contacts"
        )
        duplicates = sum(i % 50 == 49 for i in present) if duplicated else 0
        assert len(dataset.records[object_type]) == len(present) + duplicates, object_type
    assert dataset.counts["activities"] == 0
    assert dataset.records["activities"] == []


def test_every_object_type_is_listed_in_dependency_order(hubspot: Dataset) -> None:
    assert list(hubspot.records) == [
        "companies",
        "contacts",
        "products",
        "deals",
        "invoices",
        "sales_orders",
        "activities",
    ]


# -- match keys --------------------------------------------------------------------------------


def test_shared_contacts_have_the_same_email_once_normalised(
    hubspot: Dataset, app: Dataset
) -> None:
    pairs = shared(hubspot, app, "contacts")
    assert all(h.fields["email"] for _, h, _ in pairs)
    assert all(normalise_email(a.fields["email"]) == h.fields["email"] for _, h, a in pairs)


def test_the_app_side_varies_case_or_spacing_of_every_eighth_shared_email(
    hubspot: Dataset, app: Dataset
) -> None:
    for i, h, a in shared(hubspot, app, "contacts"):
        if i % 8 == 1:
            assert a.fields["email"] != h.fields["email"]
            assert a.fields["email"] in (h.fields["email"].upper(), f"  {h.fields['email']} ")
        else:
            assert a.fields["email"] == h.fields["email"]


def test_every_twentieth_contact_has_no_email_and_another_an_invalid_one(app: Dataset) -> None:
    contacts = originals(app, "contacts")
    for i in range(7, COUNTS["contacts"], 20):
        assert contacts[i].fields["email"] is None
    for i in range(11, COUNTS["contacts"], 20):
        assert contacts[i].fields["email"] == f"not-an-email-{i}"
    others = [r for i, r in contacts.items() if i % 20 not in (7, 11)]
    assert all(EMAIL.match(normalise_email(r.fields["email"]) or "") for r in others)


def test_hubspot_holds_only_emails_hubspot_accepts_each_once(hubspot: Dataset) -> None:
    emails = [r.fields["email"] for r in hubspot.records["contacts"]]
    assert all(EMAIL.match(e) for e in emails)
    assert len(set(emails)) == len(emails)


def test_shared_companies_share_name_and_domain_except_the_two_variants(
    hubspot: Dataset, app: Dataset
) -> None:
    for i, h, a in shared(hubspot, app, "companies"):
        same_name = a.fields["name"] == h.fields["name"]
        same_domain = a.fields["domain"] == h.fields["domain"]
        expected = {5: (True, False), 6: (False, True)}.get(i % 10, (True, True))
        assert (same_name, same_domain) == expected, i
    variants = {i % 10 for i, _, _ in shared(hubspot, app, "companies")}
    assert {5, 6} <= variants


def test_each_app_company_matches_by_name_or_domain_only_its_own_hubspot_counterpart(
    hubspot: Dataset, app: Dataset
) -> None:
    by_name, by_domain = {}, {}
    for i, record in originals(hubspot, "companies").items():
        by_name[record.fields["name"]] = i
        by_domain[record.fields["domain"]] = i
    for i, record in originals(app, "companies").items():
        matches = {by_name.get(record.fields["name"]), by_domain.get(record.fields["domain"])}
        assert matches - {None} == ({i} if exists_on("hubspot", i) else set()), i


def test_shared_products_share_sku_and_name_but_every_sixth_lacks_the_sku_in_the_app(
    hubspot: Dataset, app: Dataset
) -> None:
    pairs = shared(hubspot, app, "products")
    assert all(a.fields["name"] == h.fields["name"] for _, h, a in pairs)
    for i, h, a in pairs:
        assert h.fields["sku"] == f"SKU-{i:06d}"
        assert a.fields["sku"] == (None if i % 6 == 3 else h.fields["sku"])
    assert any(i % 6 == 3 for i, _, _ in pairs)


# -- differences for conflict resolution -------------------------------------------------------


def test_every_fifth_shared_contact_has_another_jobtitle_and_phone_in_the_app(
    hubspot: Dataset, app: Dataset
) -> None:
    for i, h, a in shared(hubspot, app, "contacts"):
        differs = a.fields["jobtitle"] != h.fields["jobtitle"]
        assert differs == (a.fields["phone"] != h.fields["phone"]) == (i % 5 == 0), i


def test_a_share_of_shared_records_lacks_a_value_on_one_side_only(
    hubspot: Dataset, app: Dataset
) -> None:
    for i, h, a in shared(hubspot, app, "contacts"):
        assert (a.fields["city"] is None) == (i % 5 == 1), i
        assert (h.fields["city"] is None) == (i % 5 == 2), i


def test_other_shared_records_hold_the_same_values_apart_from_the_match_key_variants(
    hubspot: Dataset, app: Dataset
) -> None:
    keys = {"contacts": {"email"}, "companies": {"name", "domain"}, "products": {"sku"}}
    for object_type in OBJECT_TYPES:
        for i, h, a in shared(hubspot, app, object_type):
            if i % 5 in (3, 4):
                ignored = keys.get(object_type, set())
                assert {k: v for k, v in h.fields.items() if k not in ignored} == {
                    k: v for k, v in a.fields.items() if k not in ignored
                }, (object_type, i)


# -- duplicates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "object_type"),
    [
        ("hubspot", "companies"),
        ("hubspot", "products"),
        ("app", "companies"),
        ("app", "contacts"),
        ("app", "products"),
    ],
)
def test_every_fiftieth_record_has_a_duplicate_with_the_same_match_key_right_after_it(
    hubspot: Dataset, app: Dataset, side: SideName, object_type: str
) -> None:
    records = (hubspot if side == "hubspot" else app).records[object_type]
    duplicates = [(n, r) for n, r in enumerate(records) if r.key.endswith("-dup")]
    expected = [i for i in range(COUNTS[object_type]) if i % 50 == 49 and exists_on(side, i)]
    assert [index_of(r.key) for _, r in duplicates] == expected
    for n, duplicate in duplicates:
        original = records[n - 1]
        assert duplicate.key == f"{original.key}-dup"
        for name in MATCH_FIELDS[object_type]:
            assert duplicate.fields[name] == original.fields[name]


def test_hubspot_holds_no_contact_duplicates_because_it_refuses_a_repeated_email(
    hubspot: Dataset,
) -> None:
    assert not [r for r in hubspot.records["contacts"] if r.key.endswith("-dup")]


def test_only_object_types_matched_on_the_initial_sync_have_duplicates(
    hubspot: Dataset, app: Dataset
) -> None:
    for dataset in (hubspot, app):
        for object_type in set(OBJECT_TYPES) - set(MATCH_FIELDS):
            assert not [r for r in dataset.records[object_type] if r.key.endswith("-dup")]


# -- associations ------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["hubspot", "app"])
def test_refs_name_only_originals_present_on_the_same_side(side: SideName) -> None:
    dataset = generate_dataset(side, COUNTS, seed=7)
    present = {t: set(originals(dataset, t)) for t in OBJECT_TYPES}
    referred = 0
    for records in dataset.records.values():
        for record in records:
            for object_type, keys in record.refs.items():
                assert keys, record.key
                assert len(set(keys)) == len(keys), record.key
                assert all(k.startswith(f"{object_type}-") for k in keys), record.key
                assert {index_of(k) for k in keys} <= present[object_type], record.key
                assert not [k for k in keys if k.endswith("-dup")]
                referred += len(keys)
    assert referred > COUNTS["contacts"]


def test_contacts_refer_to_company_i_or_the_one_below_where_this_side_lacks_it(
    hubspot: Dataset,
) -> None:
    n = COUNTS["companies"]
    for i, record in originals(hubspot, "contacts").items():
        natural = i % n
        expected = natural if exists_on("hubspot", natural) else natural - 1
        assert record.refs["companies"][0] == f"companies-{expected}"


def test_every_seventh_contact_has_two_companies_the_first_one_primary(
    hubspot: Dataset, app: Dataset
) -> None:
    for dataset in (hubspot, app):
        for i, record in originals(dataset, "contacts").items():
            companies = record.refs["companies"]
            assert len(companies) == (2 if i % 7 == 0 else 1), i
            assert record.primary_company == companies[0]


def test_deals_refer_to_one_company_and_one_or_two_contacts(app: Dataset) -> None:
    deals = originals(app, "deals")
    for record in deals.values():
        assert len(record.refs["companies"]) == 1
        assert record.primary_company == record.refs["companies"][0]
        assert len(record.refs["contacts"]) in (1, 2)
    assert {len(r.refs["contacts"]) for r in deals.values()} == {1, 2}


def test_invoices_and_sales_orders_refer_to_one_contact(app: Dataset) -> None:
    for object_type in ("invoices", "sales_orders"):
        for record in app.records[object_type]:
            assert list(record.refs) == ["contacts"]
            assert len(record.refs["contacts"]) == 1
            assert record.primary_company is None


def test_activities_refer_to_a_contact_and_for_a_share_a_company_or_a_deal(
    hubspot: Dataset,
) -> None:
    shapes = {tuple(sorted(r.refs)) for r in hubspot.records["activities"]}
    assert shapes == {
        ("contacts",),
        ("companies", "contacts"),
        ("contacts", "deals"),
        ("companies", "contacts", "deals"),
    }


def test_no_refs_to_object_types_missing_from_the_counts_or_counted_zero() -> None:
    dataset = generate_dataset("app", {"contacts": 50, "deals": 20, "companies": 0}, seed=0)
    for records in dataset.records.values():
        for record in records:
            assert "companies" not in record.refs
            assert record.primary_company is None
    assert all(r.refs == {} for r in dataset.records["contacts"])
    assert all(list(r.refs) == ["contacts"] for r in dataset.records["deals"])


# -- values ------------------------------------------------------------------------------------


def test_every_record_holds_exactly_the_neutral_fields_of_its_object_type(
    hubspot: Dataset, app: Dataset
) -> None:
    for dataset in (hubspot, app):
        for object_type, records in dataset.records.items():
            assert all(tuple(r.fields) == NEUTRAL_FIELDS[object_type] for r in records)


def is_amount(value: object) -> bool:
    return isinstance(value, float) and round(value, 2) == value and value > 0


def test_values_have_the_documented_types_formats_and_options(app: Dataset) -> None:
    for record in app.records["companies"]:
        assert record.fields["industry"] in INDUSTRIES
        assert isinstance(record.fields["numberofemployees"], int)
    assert all(r.fields["lifecyclestage"] in LIFECYCLE_STAGES for r in app.records["contacts"])
    for record in app.records["deals"]:
        assert record.fields["stage"] in DEAL_STAGES
        assert is_amount(record.fields["amount"])
        assert record.fields["closedate"] is None or DATE.match(record.fields["closedate"])
    assert all(is_amount(r.fields["price"]) for r in app.records["products"])
    for record in app.records["invoices"]:
        assert record.fields["status"] in INVOICE_STATUSES
        assert record.fields["currency"] in CURRENCIES
        assert record.fields["duedate"] is None or DATE.match(record.fields["duedate"])
    for record in app.records["sales_orders"]:
        assert record.fields["status"] in SALES_ORDER_STATUSES
        assert is_amount(record.fields["amount"])


def test_activities_of_each_kind_hold_status_or_duration_as_their_kind_has(
    hubspot: Dataset,
) -> None:
    activities = hubspot.records["activities"]
    assert {r.fields["kind"] for r in activities} == set(ACTIVITY_KINDS)
    for record in activities:
        kind, fields = record.fields["kind"], record.fields
        assert DATETIME.match(fields["timestamp"])
        assert (fields["status"] in ("NOT_STARTED", "COMPLETED")) == (kind == "task")
        if kind in ("call", "meeting"):
            assert isinstance(fields["duration_ms"], int)
            assert fields["duration_ms"] > 0
        else:
            assert fields["duration_ms"] is None


# -- arguments ---------------------------------------------------------------------------------


def test_the_side_may_be_given_as_the_schema_enum() -> None:
    dataset = generate_dataset(Side.APP, {"contacts": 8}, seed=0)  # type: ignore[arg-type]
    assert dataset.side == "app"
    assert type(dataset.side) is str


@pytest.mark.parametrize(
    ("side", "counts"),
    [
        ("dynamics", {"contacts": 1}),
        ("app", {"accounts": 1}),
        ("app", {"contacts": -1}),
        ("app", {"contacts": 1.5}),
    ],
)
def test_an_unknown_side_or_object_type_or_a_bad_count_is_refused(
    side: str, counts: dict[str, int]
) -> None:
    with pytest.raises(ValueError, match=r"side|object types|counts"):
        generate_dataset(side, counts)  # type: ignore[arg-type]
