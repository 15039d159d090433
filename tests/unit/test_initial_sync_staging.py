"""Where the initial sync keeps what it read: records on disk, pairs, records held back."""

from schemas.events import Side
from services.connectors.base import Record
from services.reconciler.staging import Staging


def test_a_record_listed_twice_is_kept_once_with_what_was_read_last() -> None:
    with Staging.temporary() as staging:
        staging.add(Side.APP, [Record("a1", {"emailaddress1": "x@y.z", "jobtitle": "A"})], [])
        staging.add(
            Side.APP,
            [Record("a1", {"emailaddress1": "x@y.z", "jobtitle": "B"})],
            ["emailaddress1"],
        )
        assert staging.count(Side.APP) == 1
        assert list(staging.match_inputs(Side.APP)) == [("a1", {"emailaddress1": "x@y.z"})]
        [[(side, record_id, props, _, _)]] = list(staging.events(10))
        assert (side, record_id, props["jobtitle"]) == (Side.APP, "a1", "B")


def test_events_carry_pairs_together_leave_out_held_records_and_put_hubspot_work_first() -> None:
    with Staging.temporary() as staging:
        keys = ["email"]
        staging.add(
            Side.HUBSPOT,
            [Record(f"h{i}", {"email": f"{i}@x.io", "n": i}) for i in range(4)],
            keys,
        )
        staging.add(
            Side.APP,
            [Record(f"a{i}", {"emailaddress1": f"{i}@x.io", "n": i}) for i in range(1, 6)],
            ["emailaddress1"],
        )
        staging.set_pairs([("h1", "a1"), ("h2", "a2")])
        staging.hold(Side.HUBSPOT, ["h3"])
        staging.hold(Side.APP, ["a5"])
        assert staging.to_publish() == 5
        rows = [row for chunk in staging.events(2) for row in chunk]
        assert [(side, rid, other) for side, rid, _, other, _ in rows] == [
            (Side.APP, "a3", None),  # HubSpot lacks them: its writer starts first
            (Side.APP, "a4", None),
            (Side.HUBSPOT, "h1", "a1"),
            (Side.HUBSPOT, "h2", "a2"),
            (Side.HUBSPOT, "h0", None),
        ]
        counterpart = rows[2][4]
        assert counterpart == {"emailaddress1": "1@x.io", "n": 1}
