"""The processor's memory of its own writes, which keeps a write whose outcome is not stored
yet from passing for a change made on the record's side."""

from schemas.events import Side
from services.processor.inflight import RecentWrites


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SNAPSHOT = {"firstname:firstname": "Ann", "jobtitle:jobtitle": "Old"}


def test_a_value_datasync_wrote_counts_as_the_snapshots_value():
    recent = RecentWrites(clock=Clock())
    recent.remember("c1", "contacts", Side.APP, "a1", {"jobtitle:jobtitle": "Mine"})
    current = {"firstname:firstname": "Ann", "jobtitle:jobtitle": "Mine"}
    assert recent.mask("c1", "contacts", Side.APP, "a1", current, SNAPSHOT) == SNAPSHOT


def test_a_value_someone_else_set_stays_a_change():
    recent = RecentWrites(clock=Clock())
    recent.remember("c1", "contacts", Side.APP, "a1", {"jobtitle:jobtitle": "Mine"})
    current = {"firstname:firstname": "Anna", "jobtitle:jobtitle": "Theirs"}
    assert recent.mask("c1", "contacts", Side.APP, "a1", current, SNAPSHOT) == current


def test_writes_are_told_apart_by_connection_side_and_record():
    recent = RecentWrites(clock=Clock())
    recent.remember("c1", "contacts", Side.APP, "a1", {"jobtitle:jobtitle": "Mine"})
    current = {"jobtitle:jobtitle": "Mine"}
    for key in (("c2", Side.APP, "a1"), ("c1", Side.HUBSPOT, "a1"), ("c1", Side.APP, "a2")):
        connection, side, record = key
        assert recent.mask(connection, "contacts", side, record, current, SNAPSHOT) == current


def test_writes_into_one_record_add_up_and_are_forgotten_after_a_while():
    clock = Clock()
    recent = RecentWrites(ttl_seconds=60, clock=clock)
    recent.remember("c1", "contacts", Side.APP, "a1", {"jobtitle:jobtitle": "Mine"})
    clock.now = 30
    recent.remember("c1", "contacts", Side.APP, "a1", {"firstname:firstname": "Bo"})
    current = {"firstname:firstname": "Bo", "jobtitle:jobtitle": "Mine"}
    assert recent.mask("c1", "contacts", Side.APP, "a1", current, SNAPSHOT) == SNAPSHOT
    clock.now = 100
    assert recent.mask("c1", "contacts", Side.APP, "a1", current, SNAPSHOT) == current
    assert len(recent) == 0


def test_memory_is_bounded_oldest_first():
    recent = RecentWrites(max_records=2, clock=Clock())
    for record in ("a1", "a2", "a3"):
        recent.remember("c1", "contacts", Side.APP, record, {"jobtitle:jobtitle": "Mine"})
    assert len(recent) == 2
    current = {"jobtitle:jobtitle": "Mine"}
    assert recent.mask("c1", "contacts", Side.APP, "a1", current, SNAPSHOT) == current
    assert recent.mask("c1", "contacts", Side.APP, "a3", current, SNAPSHOT) != current
