"""A dry run counts what "save and sync" would do, writing nothing."""

from schemas.events import Side
from schemas.settings import Direction, Filter, SideFilters, SyncSettings
from services.domain.dry_run import dry_run

HUBSPOT = [
    ("1", {"email": "ann@x.io", "firstname": "Ann", "jobtitle": "Dev"}),  # matches a
    ("2", {"email": "bob@x.io", "firstname": "Bob"}),  # new: created in the app
    ("3", {"email": "not-an-email"}),  # excluded
    ("4", {"email": ""}),  # excluded
    ("5", {"email": "dup@x.io"}),  # duplicates
    ("6", {"email": "DUP@x.io"}),
    ("7", {"email": "eve@x.io", "firstname": "Eve"}),  # linked to e, already agrees
]
APP = [
    ("a", {"emailaddress1": "ann@x.io", "firstname": "Annie", "jobtitle": None}),
    ("c", {"emailaddress1": "carl@x.io", "lastname": "Carlsen"}),  # new: created in HubSpot
    ("e", {"emailaddress1": "eve@x.io", "firstname": "Eve"}),
]
LINKS = [("7", "e")]


def test_a_dry_run_counts_matches_creates_updates_exclusions_and_duplicates():
    report = dry_run("contacts", SyncSettings(), HUBSPOT, APP, LINKS)
    assert report.linked == 1
    assert report.matched == 1
    assert report.in_sync == 1
    assert report.created == {Side.HUBSPOT: 1, Side.APP: 1}
    assert report.updated == {Side.HUBSPOT: 0, Side.APP: 1}
    assert report.duplicates == {Side.HUBSPOT: 2, Side.APP: 0}


def test_a_dry_run_names_the_fields_each_side_would_get_new_values_in():
    report = dry_run("contacts", SyncSettings(), HUBSPOT, APP, LINKS)
    assert report.updated_fields[Side.APP] == {"firstname": 1, "jobtitle": 1}


def test_a_dry_run_groups_exclusions_by_reason():
    report = dry_run("contacts", SyncSettings(), HUBSPOT, APP, LINKS)
    [(reason, count)] = report.excluded[Side.HUBSPOT].items()
    assert "email" in reason
    assert count == 2


def test_a_dry_run_follows_the_conflict_winner():
    report = dry_run("contacts", SyncSettings(conflict_winner="app"), HUBSPOT, APP, LINKS)
    assert report.updated_fields[Side.HUBSPOT] == {"firstname": 1}
    assert report.updated_fields[Side.APP] == {"jobtitle": 1}  # the winner's blank is filled


def test_a_one_way_dry_run_creates_nothing_in_the_source_side():
    report = dry_run("contacts", SyncSettings(direction=Direction.TO_APP), HUBSPOT, APP, LINKS)
    assert report.created == {Side.HUBSPOT: 0, Side.APP: 1}
    assert report.not_synced[Side.APP] == 1


def test_a_dry_run_applies_the_filters():
    settings = SyncSettings(
        only_with_email=False,
        filters=SideFilters(app=[Filter(property="lastname", op="has_value")]),
    )
    report = dry_run("contacts", settings, [], APP, [])
    assert report.created[Side.HUBSPOT] == 1
    assert report.excluded[Side.APP] == {
        "left out by the app filter: lastname must have a value": 2
    }


def test_a_dry_run_of_companies_matches_by_domain_and_name():
    hubspot = [("1", {"name": "Acme", "domain": "acme.com"}), ("2", {"name": "Globex"})]
    app = [
        ("a", {"name": "ACME Corp", "websiteurl": "https://acme.com"}),
        ("b", {"name": "globex", "websiteurl": None}),
    ]
    report = dry_run("companies", SyncSettings(), hubspot, app)
    assert report.matched == 2
    assert report.created == {Side.HUBSPOT: 0, Side.APP: 0}
    assert report.updated_fields[Side.APP] == {"name": 2}


def test_a_dry_run_counts_values_the_value_mapping_cannot_write():
    hubspot = [("1", {"name": "Pixar", "industry": "ANIMATION"})]
    report = dry_run("companies", SyncSettings(), hubspot, [])
    assert report.created[Side.APP] == 1
    [(note, count)] = report.notes.items()
    assert "ANIMATION" in note
    assert count == 1


def test_a_dry_run_of_deals_matches_nothing_and_creates_both_ways():
    report = dry_run(
        "deals",
        SyncSettings(),
        [("1", {"dealname": "Big", "dealstage": "closedwon"})],
        [("a", {"name": "Big"})],
    )
    assert report.matched == 0
    assert report.created == {Side.HUBSPOT: 1, Side.APP: 1}


def test_a_dry_run_report_reads_as_json():
    report = dry_run("contacts", SyncSettings(), HUBSPOT, APP, LINKS).as_dict()
    assert report["created"] == {"hubspot": 1, "app": 1}
    assert report["updated_fields"]["app"] == {"firstname": 1, "jobtitle": 1}
