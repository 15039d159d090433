"""`datasync progress`: the lines drawn from a health document, and when it stops."""

import io
from typing import Any

import pytest

from services.cli_progress import (
    SETTLE_SECONDS,
    ProgressError,
    Screen,
    bar,
    follow,
    render_object,
    settled,
)


def health(
    phase: str | None,
    state: str = "initial_sync",
    to_publish: int | None = None,
    **counts: int,
) -> dict[str, Any]:
    progress: dict[str, Any] = {}
    if phase is not None:
        progress = {
            "phase": phase,
            "read": {"hubspot": 100_000, "app": 60_000},
            "matched": 50_000 if to_publish is not None else 0,
            "duplicates": {"hubspot": 0, "app": 4},
            "to_publish": to_publish,
            "published": counts.pop("published", 0),
        }
    return {
        "state": state,
        "in_sync": 0,
        "failing": 0,
        "excluded": 0,
        "pending": 0,
        "initial_sync": progress,
        **counts,
    }


def test_while_reading_the_bar_only_shows_that_work_goes_on() -> None:
    line = render_object("contacts", health("reading"), tick=3)
    assert line.startswith("contacts   [   <=>")
    assert "reading" in line
    assert "read 100k HubSpot 60k app" in line
    assert "published" not in line  # how many is not known yet
    assert "%" not in line


def test_once_matched_the_bar_fills_with_stored_outcomes() -> None:
    doc = health(
        "publishing", to_publish=146, published=100, in_sync=70, failing=2, excluded=3, pending=40
    )
    line = render_object("contacts", doc)
    # 75 outcomes of 146 published + 4 duplicates held back.
    assert "[##########----------]  50%" in line
    assert "publishing" in line
    assert "matched 50k" in line
    assert "duplicates 4" in line
    assert "published 100/146" in line
    assert "in sync 70  failing 2  excluded 3  pending 40" in line


def test_a_failed_initial_sync_shows_its_error() -> None:
    doc = health("reading")
    doc["initial_sync"].update(phase="failed", error="ConnectorError: 401")
    assert render_object("contacts", doc).endswith("error: ConnectorError: 401")


def test_a_sync_not_started_says_so() -> None:
    assert "not started" in render_object("deals", health(None, state="draft"))


@pytest.mark.parametrize(
    ("doc", "unchanged_for", "expected"),
    [
        (health("publishing", to_publish=10, in_sync=14), 60.0, False),  # still initial sync
        (health("done", state="syncing", to_publish=10, in_sync=10, pending=4), 60.0, False),
        (health("done", state="syncing", to_publish=10, in_sync=13, failing=1), 0.0, True),
        (health("done", state="syncing", to_publish=10, in_sync=9), 0.0, False),
        (health("done", state="syncing", to_publish=10, in_sync=9), SETTLE_SECONDS, True),
        (health(None, state="syncing", in_sync=5), SETTLE_SECONDS, True),
    ],
)
def test_the_writes_have_settled_when_every_outcome_is_stored_or_counts_stop_moving(
    doc: dict[str, Any], unchanged_for: float, expected: bool
) -> None:
    assert settled(doc, unchanged_for) is expected


def test_the_bar_is_as_wide_whatever_it_shows() -> None:
    widths = {len(bar(f, 0)) for f in (0.0, 0.33, 1.0, 2.0)}
    widths |= {len(bar(None, t)) for t in range(60)}
    assert widths == {22}


def test_large_counts_are_shortened_to_fit_a_terminal_line() -> None:
    doc = health("publishing", to_publish=1_500_000, published=29_740, in_sync=9_999)
    line = render_object("contacts", doc)
    assert "published 29.7k/1.50M" in line
    assert "in sync 9,999" in line


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(frames: list[dict[str, Any]], objects: list[str] | None, live: bool) -> tuple[str, int]:
    docs = iter(frames)
    out = io.StringIO()
    clock = Clock()
    polls = 0

    def get() -> dict[str, Any]:
        nonlocal polls
        polls += 1
        return {"connection_id": "c1", "objects": next(docs)}

    follow(get, objects, Screen(out, live), clock=clock, sleep=clock.sleep)
    return out.getvalue(), polls


def test_without_a_terminal_it_prints_a_line_per_object_and_poll_until_settled() -> None:
    frames = [
        {"contacts": health("reading")},
        {"contacts": health("publishing", to_publish=6, in_sync=2, pending=4)},
        {"contacts": health("done", state="syncing", to_publish=6, in_sync=10)},
        {"contacts": health("done", state="syncing", to_publish=6, in_sync=10)},
    ]
    text, polls = run(frames, None, live=False)
    assert polls == 3
    lines = text.splitlines()
    assert len(lines) == 3
    assert "\r" not in text
    assert "\x1b" not in text
    assert "100%" in lines[-1]


def test_on_a_terminal_it_redraws_its_lines_in_place() -> None:
    both = {
        "contacts": health("done", state="syncing", to_publish=6, in_sync=10),
        "companies": health("reading"),
    }
    done = {
        "contacts": both["contacts"],
        "companies": health("done", state="syncing", to_publish=0, failing=4),
    }
    text, polls = run([both, both, done], None, live=True)
    assert polls == 3
    assert text.count("\x1b[F") == 2  # back up one line before each redraw of two lines
    assert text.startswith("\rcompanies")


def test_an_object_the_connection_does_not_sync_is_an_error() -> None:
    with pytest.raises(ProgressError, match="no deals sync"):
        run([{"contacts": health("reading")}], ["deals"], live=False)
