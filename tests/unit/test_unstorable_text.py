"""Finding text PostgreSQL cannot store in a decoded JSON body."""

import pytest

from services.status_api.inputs import unstorable_at


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "fine", "n": 1, "ok": [True, None, 2.5]}, None),
        ({"name": "a\x00b"}, "body.name"),
        (
            {"filters": {"hubspot": [{"value": "x"}, {"value": "\ud800"}]}},
            "body.filters.hubspot.1.value",
        ),
        ({"value_map": {"\x00": "x"}}, "body.value_map (a key)"),
        (["\x00"], "body.0"),
        ("\udfff", "body"),
        ("caf\u00e9 \U0001f600", None),
    ],
)
def test_the_first_unstorable_text_is_named_by_its_place(body: object, where: str | None):
    assert unstorable_at(body) == where
