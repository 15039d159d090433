"""One table's rows, with the indexes Dataverse keeps: alternate keys and lookups.

An alternate key index maps the key's values (text compared case-insensitively, as the
database collation does) to the rows holding them; rows whose key columns are not all set are
not in it, so several rows may leave a key empty. Writes through the API keep an active key
unique. Seeded rows are data that was there before the key: where they hold the same values
twice, the key's unique index cannot be built and Dataverse marks the key Failed
(EntityKeyIndexStatus); the sandbox then neither enforces nor resolves that key until the
duplicates are gone. A lookup index maps a referenced record to the rows pointing at it, for
cascading deletes and for Restrict checks.
"""

from dataclasses import dataclass, field
from typing import Any

from services.sandbox.dynamics.schema import EntityDef, Row

KeyValues = tuple[Any, ...]


def normalise(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


@dataclass
class Table:
    entity: EntityDef
    rows: dict[str, Row] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)  # id -> version of the delete
    revision: int = 0  # bumped by every write, so cached query results know they are stale
    cache: dict[Any, tuple[int, list[Row]]] = field(default_factory=dict)
    keys: dict[tuple[str, ...], dict[KeyValues, set[str]]] = field(default_factory=dict)
    clashes: dict[tuple[str, ...], int] = field(default_factory=dict)  # values held twice
    refs: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = {columns: {} for columns in self.entity.keys.values()}
        self.clashes = dict.fromkeys(self.keys, 0)
        self.refs = {attr.name: {} for attr in self.entity.lookups()}

    # --- indexes -----------------------------------------------------------------------

    @staticmethod
    def key_of(columns: tuple[str, ...], row: Row) -> KeyValues | None:
        values = tuple(normalise(row.get(column)) for column in columns)
        return None if any(v is None for v in values) else values

    def active(self, columns: tuple[str, ...]) -> bool:
        """Whether the key's unique index exists: no two rows hold the same values."""
        return self.clashes[columns] == 0

    def find(self, columns: tuple[str, ...], values: Row) -> str | None:
        key = self.key_of(columns, values)
        holders = self.keys[columns].get(key) if key is not None else None
        return next(iter(holders)) if holders else None

    def conflict(self, record_id: str, row: Row) -> tuple[str, tuple[str, ...]] | None:
        """The active alternate key (name, columns) another row already holds these values of."""
        for name, columns in self.entity.keys.items():
            key = self.key_of(columns, row)
            if key is None or not self.active(columns):
                continue
            if self.keys[columns].get(key, set()) - {record_id}:
                return name, columns
        return None

    def referencing(self, column: str, target_id: str) -> list[str]:
        return sorted(self.refs[column].get(target_id, ()))

    def _index(self, record_id: str, row: Row) -> None:
        for columns, keys in self.keys.items():
            key = self.key_of(columns, row)
            if key is not None:
                holders = keys.setdefault(key, set())
                holders.add(record_id)
                if len(holders) == 2:
                    self.clashes[columns] += 1
        for column, refs in self.refs.items():
            target = row.get(column)
            if target is not None:
                refs.setdefault(target, set()).add(record_id)

    def _unindex(self, record_id: str, row: Row) -> None:
        for columns, keys in self.keys.items():
            key = self.key_of(columns, row)
            holders = keys.get(key) if key is not None else None
            if key is None or holders is None or record_id not in holders:
                continue
            holders.discard(record_id)
            if len(holders) == 1:
                self.clashes[columns] -= 1
            elif not holders:
                del keys[key]
        for column, refs in self.refs.items():
            target = row.get(column)
            if target is not None and target in refs:
                refs[target].discard(record_id)
                if not refs[target]:
                    del refs[target]

    # --- writes ------------------------------------------------------------------------

    def put(self, record_id: str, row: Row) -> None:
        old = self.rows.get(record_id)
        if old is not None:
            self._unindex(record_id, old)
        self.rows[record_id] = row
        self._index(record_id, row)
        self.tombstones.pop(record_id, None)
        self.revision += 1

    def remove(self, record_id: str, version: int) -> None:
        row = self.rows.pop(record_id)
        self._unindex(record_id, row)
        self.tombstones[record_id] = version
        self.revision += 1

    def restore(self, record_id: str, row: Row | None, tombstone: int | None) -> None:
        """Puts back a row (or its absence) and its tombstone, as they were before a write."""
        current = self.rows.pop(record_id, None)
        if current is not None:
            self._unindex(record_id, current)
        if row is not None:
            self.rows[record_id] = row
            self._index(record_id, row)
        if tombstone is None:
            self.tombstones.pop(record_id, None)
        else:
            self.tombstones[record_id] = tombstone
        self.revision += 1
