"""The connector protocol: what the sync needs of an app, whichever app it is."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from schemas.commands import WriteOp
from services.connectors.errors import ErrorResolution


@dataclass(frozen=True)
class Record:
    id: str
    properties: dict[str, Any]
    modified_at: datetime | None = None


@dataclass(frozen=True)
class WriteRequest:
    ref: str  # the caller's handle for this write (a command id)
    op: WriteOp
    record_id: str | None
    properties: dict[str, Any]
    kind: str | None = None  # activities: which entity a create makes (task, call, ...)
    id_property: str | None = None  # upserts: the unique property that identifies the record


@dataclass(frozen=True)
class Association:
    """A record's link to a record of another object; `primary` marks the primary company."""

    from_id: str
    to_id: str
    primary: bool = False


@dataclass(frozen=True)
class WriteResult:
    ref: str
    record_id: str | None = None
    error: ErrorResolution | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Connector(Protocol):
    """One account of one app (or the HubSpot account)."""

    async def read_batch(
        self, object_type: str, ids: list[str], fields: list[str]
    ) -> dict[str, Record]:
        """The records that exist among `ids`; missing ones are left out."""
        ...

    async def find_by_match_key(
        self, object_type: str, field: str, keys: list[str], fields: list[str]
    ) -> list[Record]:
        """Records whose `field` equals one of `keys` (case-insensitively where the app is)."""
        ...

    def list_records(
        self, object_type: str, fields: list[str], since: datetime | None = None
    ) -> AsyncIterator[list[Record]]:
        """Pages of every record, or of those modified at or after `since`, oldest first."""
        ...

    async def write_batch(self, object_type: str, writes: list[WriteRequest]) -> list[WriteResult]:
        """One result per write, in any order; a bad record does not fail its neighbours."""
        ...

    async def read_associations(
        self, object_type: str, ids: list[str], to_object_type: str
    ) -> dict[str, list[Association]]:
        """The associations of each record to records of `to_object_type`."""
        ...

    async def write_associations(
        self, object_type: str, to_object_type: str, associations: list[Association]
    ) -> list[WriteResult]:
        """Associate records (one result per association, `ref` = "from_id>to_id")."""
        ...

    async def aclose(self) -> None: ...
