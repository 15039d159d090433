"""The records of each organisation, and the create / update / delete rules Dataverse applies.

Every write gets the next row version of its organisation (the `@odata.etag` and the change
tracking watermark) and returns the `Change`s that webhooks are built from. Deletes leave a
tombstone so that change tracking can report them, and apply each referencing lookup's delete
behaviour: Cascade deletes the rows pointing at the record, RemoveLink clears their lookup,
Restrict refuses the delete. Writes run inside `atomic()`: a failing request (or change set)
leaves every table as it was.
"""

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.sandbox.dynamics.catalog import CATALOG, REFERRERS
from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.query import ASSOCIATED_NAVIGATION, LOOKUP_LOGICAL_NAME
from services.sandbox.dynamics.reference import seed_reference
from services.sandbox.dynamics.registration import seed_registration
from services.sandbox.dynamics.schema import EntityDef, Row, coerce, now
from services.sandbox.dynamics.table import Table
from services.sandbox.dynamics.validation import validate

_NAMESPACE = uuid.UUID("6f1d4e2a-3b5c-4d7e-8f90-a1b2c3d4e5f6")

Message = Literal["Create", "Update", "Delete"]
_USER_COLUMNS = ("_createdby_value", "_modifiedby_value", "_ownerid_value")
Undo = tuple[Table, str, Row | None, int | None]


@dataclass(frozen=True)
class Identity:
    """The fixed GUIDs of an organisation; the same every time the sandbox starts."""

    name: str
    organization_id: str
    business_unit_id: str
    application_user_id: str  # the user behind the bearer token (WhoAmI)
    human_user_id: str  # the person editing in the Dynamics UI (X-Sandbox-Actor: user)

    @classmethod
    def of(cls, name: str) -> "Identity":
        def make(kind: str) -> str:
            return str(uuid.uuid5(_NAMESPACE, f"{name}/{kind}"))

        return cls(name, make("organization"), make("businessunit"), make("app"), make("human"))


@dataclass(frozen=True)
class Change:
    message: Message
    entity: EntityDef
    record_id: str
    target: Row  # the columns the request set (all of them on create), after computing
    before: Row | None
    after: Row | None
    user_id: str


def _public(row: Row) -> Row:
    return {k: v for k, v in row.items() if "@" not in k}


def apply_states(entity: EntityDef, row: Row, given: Row) -> None:
    """A status given without its state moves the row to that status's state; a status that
    does not belong to the row's state becomes the state's default status."""
    if not entity.default_status:
        return
    if "statuscode" in given and "statecode" not in given:
        state = entity.status_state.get(given["statuscode"])
        if state is not None:
            row["statecode"] = state
    state, status = row.get("statecode"), row.get("statuscode")
    status_state = None if status is None else entity.status_state.get(status)
    if state in entity.default_status and status_state != state:
        row["statuscode"] = entity.default_status[state]


class Org:
    def __init__(self, name: str) -> None:
        self.identity = Identity.of(name)
        self.tables = {entity_set: Table(entity) for entity_set, entity in CATALOG.items()}
        self.version = 1000
        self._journal: list[Undo] | None = None
        for entity_set, rows in {**seed_registration(), **seed_reference()}.items():
            for row in rows:
                self.insert(CATALOG[entity_set], dict(row), self.identity.application_user_id)

    @property
    def name(self) -> str:
        return self.identity.name

    def table(self, entity_set: str) -> Table:
        return self.tables[entity_set]

    def get(self, entity: EntityDef, record_id: str) -> Row | None:
        return self.tables[entity.entity_set].rows.get(record_id)

    def require(self, entity: EntityDef, record_id: str) -> Row:
        row = self.get(entity, record_id)
        if row is None:
            raise ODataError.not_found(entity.logical_name, record_id)
        return row

    def find(self, entity: EntityDef, key_values: Row) -> str | None:
        """The record holding these alternate key values (`{"emailaddress1": "a@x.io"}`)."""
        columns = entity.key_columns(set(key_values))
        if columns is None:
            raise ODataError.invalid_key(entity.logical_name)
        table = self.tables[entity.entity_set]
        if not table.active(columns):
            name = next(n for n, c in entity.keys.items() if c == columns)
            raise ODataError.inactive_key(entity.logical_name, name)
        return table.find(columns, key_values)

    def next_version(self) -> int:
        self.version += 1
        return self.version

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Undoes every table write made inside the block if it raises; nests."""
        outermost = self._journal is None
        if outermost:
            self._journal = []
        assert self._journal is not None
        mark = len(self._journal)
        try:
            yield
        except BaseException:
            while len(self._journal) > mark:
                table, record_id, row, tombstone = self._journal.pop()
                table.restore(record_id, row, tombstone)
            raise
        finally:
            if outermost:
                self._journal = None

    def _remember(self, table: Table, record_id: str) -> None:
        if self._journal is not None:
            entry = (table, record_id, table.rows.get(record_id), table.tombstones.get(record_id))
            self._journal.append(entry)

    def _put(self, entity: EntityDef, record_id: str, row: Row, seeding: bool = False) -> None:
        table = self.tables[entity.entity_set]
        clash = None if seeding else table.conflict(record_id, row)
        if clash is not None:
            raise ODataError.duplicate_key(clash[1], clash[0])
        self._remember(table, record_id)
        table.put(record_id, row)

    # --- writes -----------------------------------------------------------------------

    def insert(
        self,
        entity: EntityDef,
        values: Row,
        user_id: str,
        stamp: datetime | None = None,
        seeding: bool = False,
    ) -> Row:
        """Stores a new row from already-validated values; system columns are filled here."""
        row: Row = {**entity.defaults, **values}
        if row.get(entity.primary_id) is None:
            row[entity.primary_id] = str(uuid.uuid4())
        if "createdon" not in row:
            row["createdon"] = stamp or now()
        row.setdefault("modifiedon", row["createdon"])
        for column in _USER_COLUMNS:
            if entity.attr(column):
                row[column] = user_id
                row[f"{column}@{LOOKUP_LOGICAL_NAME}"] = "systemuser"
        if entity.compute:
            entity.compute(row)
        apply_states(entity, row, values)
        row["versionnumber"] = self.next_version()
        self._put(entity, row[entity.primary_id], row, seeding)
        return row

    def create(self, entity: EntityDef, body: Mapping[str, Any], user_id: str) -> Change:
        values = validate(self, entity, body, creating=True)
        state = entity.attr("statecode")
        if state is not None and not state.create and "statuscode" in values:
            # A record whose state is not valid for create starts in its default state.
            start = entity.defaults.get("statecode", 0)
            if entity.status_state.get(values["statuscode"]) != start:
                values["statuscode"] = entity.default_status.get(start)
        record_id = values.get(entity.primary_id)
        if record_id is not None and self.get(entity, record_id) is not None:
            raise ODataError.duplicate()
        row = self.insert(entity, values, user_id)
        target = {k: v for k, v in _public(row).items() if v is not None}
        return Change("Create", entity, row[entity.primary_id], target, None, dict(row), user_id)

    def update(
        self, entity: EntityDef, record_id: str, body: Mapping[str, Any], user_id: str
    ) -> Change:
        before = self.require(entity, record_id)
        values = validate(self, entity, body, creating=False, record_id=record_id)
        values.pop(entity.primary_id, None)
        row = {**before, **values}
        row["modifiedon"] = now()
        if entity.attr("_modifiedby_value"):
            row["_modifiedby_value"] = user_id
        if entity.compute:
            entity.compute(row)
        apply_states(entity, row, values)
        row["versionnumber"] = self.next_version()
        self._put(entity, record_id, row)
        changed = {k for k in _public(row) if row[k] != before.get(k)}
        stamped = {"modifiedon", "_modifiedby_value"} & row.keys()
        keys = (set(_public(values)) | changed | stamped) - {"versionnumber"}
        target = {k: row[k] for k in keys}
        target[entity.primary_id] = record_id
        return Change("Update", entity, record_id, target, before, dict(row), user_id)

    def delete(self, entity: EntityDef, record_id: str, user_id: str) -> list[Change]:
        """Deletes a row and applies the delete behaviour of every lookup pointing at it; the
        deleted row's change comes first, then those of the rows deleted in cascade."""
        before = self.require(entity, record_id)
        table = self.tables[entity.entity_set]
        self._remember(table, record_id)
        table.remove(record_id, self.next_version())
        changes = [Change("Delete", entity, record_id, {}, before, None, user_id)]
        for child, attr in REFERRERS.get(entity.entity_set, []):
            child_table = self.tables[child.entity_set]
            for child_id in child_table.referencing(attr.name, record_id):
                row = child_table.rows.get(child_id)
                if row is None or row.get(f"{attr.name}@{LOOKUP_LOGICAL_NAME}") not in (
                    entity.logical_name,
                    None,
                ):
                    continue
                if attr.on_delete == "restrict":
                    raise ODataError.restricted_delete(entity.logical_name, child.logical_name)
                if attr.on_delete == "cascade":
                    changes += self.delete(child, child_id, user_id)
                else:
                    self._unlink(child, child_id, row, attr.name)
        return changes

    def _unlink(self, entity: EntityDef, record_id: str, row: Row, column: str) -> None:
        """RemoveLink: the lookup is cleared by the system; no message is processed for it."""
        cleared = {**row, column: None, "modifiedon": now()}
        for annotation in (LOOKUP_LOGICAL_NAME, ASSOCIATED_NAVIGATION):
            cleared.pop(f"{column}@{annotation}", None)
        cleared["versionnumber"] = self.next_version()
        self._put(entity, record_id, cleared)

    # --- seeding ----------------------------------------------------------------------

    def seed(
        self, entity: EntityDef, records: Iterable[Mapping[str, Any]], user_id: str
    ) -> list[str]:
        """Creates rows directly: no webhook, no request counted. The primary key, `createdon`
        and `modifiedon` may be given, to build histories, and so may columns valid for
        update only (state, status, totals). All or nothing."""
        settable = {entity.primary_id, "createdon", "modifiedon"}
        batch: list[Row] = []
        for record in records:
            body = {k: v for k, v in record.items() if k not in settable}
            values = validate(self, entity, body, creating=True, seeding=True)
            for key in settable & record.keys():
                attr = entity.attr(key)
                if attr is not None and record[key] is not None:
                    values[key] = coerce(entity, attr, record[key])
            batch.append(values)
        return self.bulk_insert(entity, batch, user_id)

    def bulk_insert(self, entity: EntityDef, rows: Iterable[Row], user_id: str) -> list[str]:
        """Inserts already-validated rows in one step, all or nothing. Seeded rows are data
        that predates the alternate keys: they may repeat key values (see `Table`)."""
        existing = self.tables[entity.entity_set].rows
        stamp = now()
        ids: list[str] = []
        with self.atomic():
            for values in rows:
                record_id = values.setdefault(entity.primary_id, str(uuid.uuid4()))
                if record_id in existing:
                    raise ODataError.duplicate()
                row = self.insert(entity, values, user_id, stamp, seeding=True)
                ids.append(row[entity.primary_id])
        return ids
