"""The records of each organisation, and the create / update / delete rules Dataverse applies.

Every write gets the next row version of its organisation (the `@odata.etag` and the change
tracking watermark) and returns a `Change` that webhooks are built from. Deletes leave a
tombstone so that change tracking can report them.
"""

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.sandbox.dynamics.entities import BUSINESS_ENTITIES, LOGICAL_NAMES
from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.query import ASSOCIATED_NAVIGATION, LOOKUP_LOGICAL_NAME
from services.sandbox.dynamics.registration import (
    CASCADES,
    REGISTRATION_ENTITIES,
    REGISTRATION_VALIDATORS,
    seed_registration,
)
from services.sandbox.dynamics.schema import AttrType, EntityDef, Row, coerce, now, parse_guid

CATALOG: dict[str, EntityDef] = {
    e.entity_set: e for e in (*BUSINESS_ENTITIES, *REGISTRATION_ENTITIES)
}
_NAMESPACE = uuid.UUID("6f1d4e2a-3b5c-4d7e-8f90-a1b2c3d4e5f6")

Message = Literal["Create", "Update", "Delete"]
_USER_COLUMNS = ("_createdby_value", "_modifiedby_value", "_ownerid_value")


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


@dataclass
class Table:
    entity: EntityDef
    rows: dict[str, Row] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)  # id -> version of the delete
    revision: int = 0  # bumped by every write, so cached query results know they are stale
    cache: dict[Any, tuple[int, list[Row]]] = field(default_factory=dict)

    def put(self, record_id: str, row: Row) -> None:
        self.rows[record_id] = row
        self.tombstones.pop(record_id, None)
        self.revision += 1

    def remove(self, record_id: str, version: int) -> None:
        del self.rows[record_id]
        self.tombstones[record_id] = version
        self.revision += 1


class Org:
    def __init__(self, name: str) -> None:
        self.identity = Identity.of(name)
        self.tables = {entity_set: Table(entity) for entity_set, entity in CATALOG.items()}
        self.version = 1000
        for entity_set, rows in seed_registration().items():
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

    def next_version(self) -> int:
        self.version += 1
        return self.version

    # --- writes -----------------------------------------------------------------------

    def insert(
        self, entity: EntityDef, values: Row, user_id: str, stamp: datetime | None = None
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
        row["versionnumber"] = self.next_version()
        self.tables[entity.entity_set].put(row[entity.primary_id], row)
        return row

    def create(self, entity: EntityDef, body: Mapping[str, Any], user_id: str) -> Change:
        values = self.validate(entity, body, creating=True)
        record_id = values.get(entity.primary_id)
        if record_id is not None and self.get(entity, record_id) is not None:
            raise ODataError.duplicate()
        row = self.insert(entity, values, user_id)
        target = {k: v for k, v in row.items() if "@" not in k and v is not None}
        return Change("Create", entity, row[entity.primary_id], target, None, dict(row), user_id)

    def update(
        self, entity: EntityDef, record_id: str, body: Mapping[str, Any], user_id: str
    ) -> Change:
        before = self.require(entity, record_id)
        values = self.validate(entity, body, creating=False, record_id=record_id)
        values.pop(entity.primary_id, None)
        row = {**before, **values}
        row["modifiedon"] = now()
        if entity.attr("_modifiedby_value"):
            row["_modifiedby_value"] = user_id
        if entity.compute:
            entity.compute(row)
        row["versionnumber"] = self.next_version()
        self.tables[entity.entity_set].put(record_id, row)
        changed = {k for k in row if "@" not in k and row[k] != before.get(k)}
        stamped = {"modifiedon", "_modifiedby_value"} & row.keys()
        keys = (set(values) | changed | stamped) - {"versionnumber"}
        target = {k: row[k] for k in keys if "@" not in k}
        target[entity.primary_id] = record_id
        return Change("Update", entity, record_id, target, before, dict(row), user_id)

    def delete(self, entity: EntityDef, record_id: str, user_id: str) -> Change:
        before = self.require(entity, record_id)
        self.tables[entity.entity_set].remove(record_id, self.next_version())
        for child_set, column in CASCADES.get(entity.entity_set, []):
            child = CATALOG[child_set]
            for child_id in [
                k for k, r in self.table(child_set).rows.items() if r.get(column) == record_id
            ]:
                self.delete(child, child_id, user_id)
        return Change("Delete", entity, record_id, {}, before, None, user_id)

    # --- validation -------------------------------------------------------------------

    def validate(
        self,
        entity: EntityDef,
        body: Mapping[str, Any],
        creating: bool,
        record_id: str | None = None,
    ) -> Row:
        """The stored form of a request body; refuses what Dataverse refuses."""
        if entity.read_only:
            raise ODataError.method_not_allowed("POST" if creating else "PATCH", entity.entity_set)
        values: Row = {}
        for key, value in body.items():
            if key.startswith("@odata."):
                continue
            if key.endswith("@odata.bind"):
                self._bind(entity, key.removesuffix("@odata.bind"), value, values)
                continue
            attr = entity.attr(key)
            if attr is None:
                raise ODataError.payload(
                    entity.entity_set,
                    f"The property '{key}' does not exist on type '{entity.type_name}'. Make "
                    "sure to only use property names that are defined by the type or mark the "
                    "type as open type.",
                )
            if attr.type is AttrType.LOOKUP:
                raise ODataError.query(
                    "CRM do not support direct update of Entity Reference properties, Use "
                    "Navigation properties instead."
                )
            if not (attr.create if creating else attr.update):
                continue  # read-only columns (fullname, createdon...) are ignored, as Dataverse does
            values[key] = coerce(entity, attr, value)
        if creating:
            missing = [
                a.name for a in entity.attributes if a.required and values.get(a.name) is None
            ]
            if missing:
                raise ODataError.invalid_argument(
                    f"Attribute '{missing[0]}' cannot be NULL for entity '{entity.logical_name}'."
                )
        validator = VALIDATORS.get(entity.entity_set)
        if validator:
            validator(self, values, record_id)
        return values

    def _bind(self, entity: EntityDef, navigation: str, value: Any, values: Row) -> None:
        attr = entity.navigation(navigation)
        if attr is None:
            raise ODataError.payload(
                entity.entity_set,
                f"An undeclared property '{navigation}' which only has property annotations in "
                "the payload but no property value was found in the payload.",
            )
        if value is None:
            values[attr.name] = None
            return
        target_set = attr.navigation[navigation]
        reference = str(value).rstrip(")").rsplit("/", 1)[-1]
        set_name, _, raw_id = reference.partition("(")
        try:
            target_id = parse_guid(raw_id)
        except ValueError as exc:
            raise ODataError.payload(entity.entity_set, f"Invalid bind value '{value}'.") from exc
        if set_name != target_set:
            raise ODataError.payload(
                entity.entity_set,
                f"The navigation property '{navigation}' refers to '{target_set}', not '{set_name}'.",
            )
        target_entity = CATALOG.get(target_set)
        if target_entity is not None and self.get(target_entity, target_id) is None:
            raise ODataError.not_found(target_entity.logical_name, target_id)
        values[attr.name] = target_id
        logical = target_entity.logical_name if target_entity else LOGICAL_NAMES.get(target_set)
        values[f"{attr.name}@{LOOKUP_LOGICAL_NAME}"] = logical or target_set.removesuffix("s")
        values[f"{attr.name}@{ASSOCIATED_NAVIGATION}"] = navigation

    # --- seeding ----------------------------------------------------------------------

    def seed(
        self, entity: EntityDef, records: Iterable[Mapping[str, Any]], user_id: str
    ) -> list[str]:
        """Creates rows directly: no webhook, no request counted. `contactid`, `createdon` and
        `modifiedon` may be given, to build histories. All or nothing: every record is
        validated before the first is stored."""
        settable = {entity.primary_id, "createdon", "modifiedon"}
        batch: list[Row] = []
        seen = set(self.tables[entity.entity_set].rows)
        for record in records:
            values = self.validate(
                entity, {k: v for k, v in record.items() if k not in settable}, creating=True
            )
            for key in settable & record.keys():
                attr = entity.attr(key)
                if attr is not None and record[key] is not None:
                    values[key] = coerce(entity, attr, record[key])
            record_id = values.setdefault(entity.primary_id, str(uuid.uuid4()))
            if record_id in seen:
                raise ODataError.duplicate()
            seen.add(record_id)
            batch.append(values)
        stamp = now()
        return [self.insert(entity, v, user_id, stamp)[entity.primary_id] for v in batch]


# Extra rules of some tables (webhook registration), keyed by entity set.
Validator = Callable[[Org, Row, str | None], None]
VALIDATORS: dict[str, Validator] = {**REGISTRATION_VALIDATORS}
