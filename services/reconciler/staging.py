"""Where an initial sync keeps the records it read: an SQLite file in a temporary directory.

Both sides of a large account do not fit in memory as Python objects (a million contacts per
side are gigabytes of dicts), and reading them twice would spend the apps' rate limits twice.
So each page goes to disk as it arrives; matching streams the records back once, and the
events are published from a join of the two sides with the matched pairs. What stays in
memory is what matching needs: the ids and keys inside `match_all`, and the pairs.
"""

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from schemas.events import Side
from services.connectors.base import Record

_TABLE = {Side.HUBSPOT: "hubspot", Side.APP: "app"}

Row = tuple[str, dict[str, Any]]


class Staging:
    """The records of both sides, the matched pairs, and which records are held back."""

    def __init__(self, path: Path) -> None:
        # Matching runs in a worker thread while the event loop waits: one user at a time.
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            CREATE TABLE hubspot (id TEXT PRIMARY KEY, keys TEXT NOT NULL, props TEXT NOT NULL,
                                  held INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE app (id TEXT PRIMARY KEY, keys TEXT NOT NULL, props TEXT NOT NULL,
                              held INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE pairs (hubspot_id TEXT PRIMARY KEY, app_id TEXT NOT NULL UNIQUE);
            """
        )
        self.key_fields: dict[Side, list[str]] = {}

    @classmethod
    @contextmanager
    def temporary(cls) -> Iterator["Staging"]:
        with tempfile.TemporaryDirectory(prefix="datasync-initial-sync-") as directory:
            staging = cls(Path(directory) / "records.sqlite")
            try:
                yield staging
            finally:
                staging.db.close()

    def add(self, side: Side, records: list[Record], key_fields: list[str]) -> None:
        """A page of records, with their `key_fields` apart for matching; a record listed
        again (it changed during the read) replaces what was read of it before, so it is
        matched and published once."""
        self._write(
            f"INSERT OR REPLACE INTO {_TABLE[side]} (id, keys, props) VALUES (?, ?, ?)",
            [
                (
                    r.id,
                    json.dumps([r.properties.get(f) for f in key_fields], default=str),
                    json.dumps(r.properties, default=str),
                )
                for r in records
            ],
        )
        self.key_fields[side] = key_fields

    def count(self, side: Side) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {_TABLE[side]}").fetchone()[0])

    def match_inputs(self, side: Side) -> Iterator[Row]:
        """(id, the key fields' values) of every record of a side, in reading order: all
        that matching reads, in small dicts."""
        fields = self.key_fields.get(side, [])
        for record_id, keys in self.db.execute(
            f"SELECT id, keys FROM {_TABLE[side]} ORDER BY rowid"
        ):
            yield record_id, dict(zip(fields, json.loads(keys), strict=True))

    def hold(self, side: Side, ids: Iterable[str]) -> None:
        """Records that are neither matched nor published."""
        self._write(f"UPDATE {_TABLE[side]} SET held = 1 WHERE id = ?", ((i,) for i in ids))

    def set_pairs(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._write("INSERT OR IGNORE INTO pairs (hubspot_id, app_id) VALUES (?, ?)", pairs)

    def _write(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        """All rows in one transaction: without one, SQLite commits each row on its own."""
        self.db.execute("BEGIN")
        try:
            self.db.executemany(statement, rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def to_publish(self) -> int:
        """How many events `events` yields."""
        query = (
            "SELECT (SELECT count(*) FROM hubspot WHERE held = 0) + (SELECT count(*) FROM app a"
            " WHERE held = 0 AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.app_id = a.id))"
        )
        return int(self.db.execute(query).fetchone()[0])

    def events(
        self, chunk: int
    ) -> Iterator[list[tuple[Side, str, dict[str, Any], str | None, dict[str, Any] | None]]]:
        """Chunks of (side, id, properties, counterpart id, counterpart properties) of every
        record not held back: HubSpot records with their matched app record if they have
        one, and app records that are not matched.

        The records HubSpot has to receive come first (app records it lacks, then pairs),
        those only the app has to receive last: HubSpot's budget is the tighter one, so its
        writer should have work from the start while the app's catches up."""
        queries = (
            (
                Side.APP,
                "SELECT a.id, a.props, NULL, NULL FROM app a WHERE a.held = 0"
                " AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.app_id = a.id) ORDER BY a.rowid",
            ),
            (
                Side.HUBSPOT,
                "SELECT h.id, h.props, a.id, a.props FROM pairs p"
                " JOIN hubspot h ON h.id = p.hubspot_id JOIN app a ON a.id = p.app_id"
                " WHERE h.held = 0 ORDER BY h.rowid",
            ),
            (
                Side.HUBSPOT,
                "SELECT h.id, h.props, NULL, NULL FROM hubspot h WHERE h.held = 0"
                " AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.hubspot_id = h.id)"
                " ORDER BY h.rowid",
            ),
        )
        for side, query in queries:
            cursor = self.db.execute(query)
            while rows := cursor.fetchmany(chunk):
                yield [
                    (
                        side,
                        record_id,
                        json.loads(props),
                        other_id,
                        json.loads(other) if other is not None else None,
                    )
                    for record_id, props, other_id, other in rows
                ]
