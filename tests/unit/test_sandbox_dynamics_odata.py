"""The Dynamics sandbox's OData `$filter`: parsing, type checks and Dataverse semantics."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.sandbox.dynamics.entities import CONTACT
from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.filtering import compile_filter, like_pattern
from services.sandbox.dynamics.odata import (
    Call,
    Compare,
    ListLit,
    Lit,
    Logical,
    Not,
    Prop,
    parse_filter,
    tokenize,
)

GUID = "6d81597f-0f9f-e711-8122-000d3aa2331c"
OTHER_GUID = "75c2dd85-e89e-e711-8122-000d3aa2331c"


def contact(**values: object) -> dict[str, object]:
    row: dict[str, object] = {a.name: None for a in CONTACT.attributes}
    row.update(contactid=GUID, statecode=0, statuscode=1)
    row.update(values)
    return row


def select(text: str, *rows: dict[str, object]) -> list[dict[str, object]]:
    predicate = compile_filter(text, CONTACT)
    return [row for row in rows if predicate(row) is True]


def error_of(text: str) -> ODataError:
    with pytest.raises(ODataError) as caught:
        compile_filter(text, CONTACT)
    return caught.value


# --- parsing -------------------------------------------------------------------------------


def test_comparison_parses_to_property_operator_and_literal() -> None:
    assert parse_filter("lastname eq 'Smith'") == Compare(
        "eq", Prop("lastname"), Lit("Smith", "string")
    )


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "ge", "lt", "le"])
def test_every_comparison_operator_parses(op: str) -> None:
    assert parse_filter(f"versionnumber {op} 5") == Compare(
        op, Prop("versionnumber"), Lit(5, "number")
    )


def test_and_binds_tighter_than_or() -> None:
    tree = parse_filter("firstname eq 'a' or firstname eq 'b' and lastname eq 'c'")
    assert isinstance(tree, Logical)
    assert tree.op == "or"
    assert isinstance(tree.right, Logical)
    assert tree.right.op == "and"


def test_parentheses_override_precedence() -> None:
    tree = parse_filter("(firstname eq 'a' or firstname eq 'b') and lastname eq 'c'")
    assert isinstance(tree, Logical)
    assert tree.op == "and"
    assert isinstance(tree.left, Logical)
    assert tree.left.op == "or"


def test_not_applies_to_the_following_expression() -> None:
    assert parse_filter("not contains(firstname,'x')") == Not(
        Call("contains", (Prop("firstname"), Lit("x", "string")))
    )


def test_doubled_quote_is_one_quote_in_a_string_literal() -> None:
    assert parse_filter("lastname eq 'O''Bryan'") == Compare(
        "eq", Prop("lastname"), Lit("O'Bryan", "string")
    )


def test_bare_guid_literal_is_a_guid_in_lower_case() -> None:
    tree = parse_filter(f"contactid eq {GUID.upper()}")
    assert tree == Compare("eq", Prop("contactid"), Lit(GUID, "guid"))


def test_guid_starting_with_a_letter_is_not_taken_for_a_property() -> None:
    tree = parse_filter(f"_parentcustomerid_value eq {OTHER_GUID.replace('7', 'e', 1)}")
    assert isinstance(tree, Compare)
    assert isinstance(tree.right, Lit)
    assert tree.right.kind == "guid"


def test_date_time_and_date_literals_are_utc_datetimes() -> None:
    tree = parse_filter("modifiedon gt 2024-05-01T10:30:00+02:00")
    assert isinstance(tree, Compare)
    assert tree.right == Lit(datetime(2024, 5, 1, 8, 30, tzinfo=UTC), "datetime")
    date_only = parse_filter("createdon ge 2024-05-01")
    assert isinstance(date_only, Compare)
    assert date_only.right == Lit(datetime(2024, 5, 1, tzinfo=UTC), "datetime")


def test_numbers_are_integers_or_decimals() -> None:
    assert tokenize("-12")[0].kind == "number"
    tree = parse_filter("versionnumber gt 1.5")
    assert isinstance(tree, Compare)
    assert tree.right == Lit(Decimal("1.5"), "number")


def test_null_true_and_false_are_literals() -> None:
    assert parse_filter("jobtitle eq null") == Compare("eq", Prop("jobtitle"), Lit(None, "null"))
    assert parse_filter("true") == Lit(True, "bool")


def test_dataverse_in_function_takes_named_arguments_and_a_list() -> None:
    tree = parse_filter(
        "Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=[\"A\",'B'])"
    )
    assert tree == Call(
        "Microsoft.Dynamics.CRM.In",
        named=(
            ("PropertyName", Lit("lastname", "string")),
            ("PropertyValues", ListLit((Lit("A", "string"), Lit("B", "string")))),
        ),
    )


def test_unterminated_literal_is_reported_as_dataverse_does() -> None:
    # Example from "Filter rows using OData": the error names position 21.
    with pytest.raises(ODataError) as caught:
        parse_filter("lastname eq 'O'Bryan'")
    assert (
        caught.value.message
        == "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."
    )
    assert (caught.value.status, caught.value.code) == (400, "0x80060888")


def test_odata_v3_guid_literal_is_refused_like_odata_v4() -> None:
    with pytest.raises(ODataError) as caught:
        parse_filter(f"contactid eq guid'{GUID}'")
    assert caught.value.message.startswith(
        f"Unrecognized 'Edm.String' literal 'guid'{GUID}'' at '13'"
    )


@pytest.mark.parametrize(
    "text", ["firstname eq", "eq 'a'", "(firstname eq 'a'", "firstname eq 'a')", "", "a eq 1 2"]
)
def test_malformed_filters_are_syntax_errors(text: str) -> None:
    with pytest.raises(ODataError) as caught:
        parse_filter(text)
    assert caught.value.code == "0x80060888"
    assert "Syntax error" in caught.value.message


# --- type checks against the table --------------------------------------------------------


def test_unknown_column_is_refused_with_the_dataverse_message() -> None:
    error = error_of("nickname eq 'x'")
    assert (
        error.message
        == "Could not find a property named 'nickname' on type 'Microsoft.Dynamics.CRM.contact'."
    )


def test_guid_column_compared_with_a_string_is_an_incompatible_type() -> None:
    error = error_of(f"contactid eq '{GUID}'")
    assert "incompatible types" in error.message
    assert "'Edm.Guid' and 'Edm.String'" in error.message


def test_date_column_compared_with_a_string_is_an_incompatible_type() -> None:
    assert "Edm.DateTimeOffset" in error_of("modifiedon gt '2024-01-01'").message


def test_a_bare_column_is_not_a_boolean_filter() -> None:
    assert "boolean" in error_of("firstname").message


def test_unknown_function_is_refused() -> None:
    assert (
        "unknown function with name 'substringof'" in error_of("substringof('a',firstname)").message
    )


def test_related_table_paths_are_refused_as_not_emulated() -> None:
    assert "not emulated" in error_of("parentcustomerid_account/name eq 'x'").message


def test_contains_needs_a_text_column_and_a_string() -> None:
    assert "text column" in error_of("contains(statecode,'1')").message
    assert "string" in error_of("contains(firstname,1)").message


# --- evaluation -----------------------------------------------------------------------------


def test_string_equality_ignores_case() -> None:
    assert select("lastname eq 'SMITH'", contact(lastname="Smith")) == [contact(lastname="Smith")]


def test_not_equal_excludes_rows_where_the_column_is_null() -> None:
    rows = [contact(jobtitle="CEO"), contact(jobtitle=None), contact(jobtitle="CTO")]
    assert select("jobtitle ne 'CEO'", *rows) == [contact(jobtitle="CTO")]


def test_eq_null_and_ne_null_test_for_missing_values() -> None:
    rows = [contact(jobtitle="CEO"), contact(jobtitle=None)]
    assert select("jobtitle eq null", *rows) == [contact(jobtitle=None)]
    assert select("jobtitle ne null", *rows) == [contact(jobtitle="CEO")]


def test_not_of_an_unknown_comparison_stays_unknown() -> None:
    assert select("not (jobtitle eq 'CEO')", contact(jobtitle=None)) == []


def test_or_is_true_when_one_side_is_true_even_if_the_other_is_unknown() -> None:
    row = contact(jobtitle=None, firstname="Ann")
    assert select("jobtitle eq 'CEO' or firstname eq 'ann'", row) == [row]


def test_and_is_false_when_one_side_is_false_even_if_the_other_is_unknown() -> None:
    assert (
        compile_filter("jobtitle eq 'CEO' and firstname eq 'x'", CONTACT)(contact(firstname="Ann"))
        is False
    )


def test_ordering_comparisons_on_numbers_and_choices() -> None:
    rows = [contact(versionnumber=v) for v in (1, 5, 9)]
    assert select("versionnumber gt 1 and versionnumber le 9", *rows) == rows[1:]
    assert select("statecode ge 1", contact(statecode=1), contact(statecode=0)) == [
        contact(statecode=1)
    ]


def test_datetime_comparisons_use_instants() -> None:
    early, late = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, 12, tzinfo=UTC)
    rows = [contact(modifiedon=early), contact(modifiedon=late)]
    assert select("modifiedon gt 2024-06-01T11:00:00Z", *rows) == [contact(modifiedon=late)]
    assert select("modifiedon lt 2024-06-01T14:00:00+02:00", *rows) == [contact(modifiedon=early)]


def test_string_ordering_ignores_case() -> None:
    assert select("lastname lt 'b'", contact(lastname="Adams"), contact(lastname="Brown")) == [
        contact(lastname="Adams")
    ]


def test_guid_comparison_ignores_case_of_the_literal() -> None:
    row = contact(_parentcustomerid_value=OTHER_GUID)
    assert select(f"_parentcustomerid_value eq {OTHER_GUID.upper()}", row) == [row]


def test_contains_startswith_and_endswith_ignore_case() -> None:
    row = contact(emailaddress1="Jane.Doe@Example.com")
    assert select("contains(emailaddress1,'doe@example')", row) == [row]
    assert select("startswith(emailaddress1,'JANE')", row) == [row]
    assert select("endswith(emailaddress1,'.COM')", row) == [row]
    assert select("startswith(emailaddress1,'doe')", row) == []


def test_string_functions_on_a_null_column_match_nothing_even_negated() -> None:
    assert select("not contains(jobtitle,'a')", contact(jobtitle=None)) == []


def test_sql_wildcards_work_inside_string_functions() -> None:
    row = contact(lastname="Smith")
    assert select("startswith(lastname,'S_ith')", row) == [row]
    assert select("contains(lastname,'m%h')", row) == [row]
    assert select("startswith(lastname,'[RS]mith')", row) == [row]
    assert select("startswith(lastname,'[^S]mith')", row) == []


def test_like_pattern_escapes_regex_characters() -> None:
    assert like_pattern("a.b+c", prefix=False, suffix=False).fullmatch("a.b+c")
    assert not like_pattern("a.b", prefix=False, suffix=False).fullmatch("axb")


def test_column_comparison_compares_two_columns_of_the_same_row() -> None:
    same, different = (
        contact(firstname="Lee", lastname="lee"),
        contact(firstname="Ann", lastname="Lee"),
    )
    assert select("firstname eq lastname", same, different) == [same]


def test_dataverse_in_and_not_in_match_a_list_of_values() -> None:
    a, b, c = (
        contact(emailaddress1="a@x.com"),
        contact(emailaddress1="B@x.com"),
        contact(emailaddress1="c@x.com"),
    )
    text = "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=['a@x.com','b@x.com'])"
    assert select(text, a, b, c) == [a, b]
    assert select(text.replace(".In(", ".NotIn("), a, b, c) == [c]


def test_dataverse_in_converts_values_to_the_column_type() -> None:
    row = contact(contactid=GUID)
    text = (
        f"Microsoft.Dynamics.CRM.In(PropertyName='contactid',PropertyValues=['{{{GUID.upper()}}}'])"
    )
    assert select(text, row) == [row]


def test_other_dataverse_query_functions_are_reported_as_not_emulated() -> None:
    error = error_of("Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=3)")
    assert "not emulated" in error.message


def test_comparison_with_a_boolean_function_result() -> None:
    row = contact(firstname="Ann")
    assert select("contains(firstname,'n') eq true", row) == [row]
    assert select("contains(firstname,'z') eq true", row) == []


def test_complex_filter_combines_everything() -> None:
    rows = [
        contact(firstname="Ann", lastname="Lee", statecode=0, emailaddress1="ann@corp.com"),
        contact(firstname="Bob", lastname="Lee", statecode=1, emailaddress1="bob@corp.com"),
        contact(firstname="Cy", lastname="Ray", statecode=0, emailaddress1=None),
    ]
    text = "(lastname eq 'lee' or emailaddress1 eq null) and not (statecode eq 1) and firstname ne 'Zed'"
    assert select(text, *rows) == [rows[0], rows[2]]
