"""Write commands (processor → writers) and write outcomes (writers → state store)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Side
from schemas.objects import ObjectType


class WriteOp(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UPSERT = "upsert"  # create or update by a unique property (`id_property`)
    DELETE = "delete"
    LINK = "link"  # both records already agree: record the pair as in sync, call no API


class WriteCommand(BaseModel):
    """Make the target side's record hold these values.

    `synced` holds the mapped values (keyed by mapping) that both records hold once the write
    landed; the writer merges them into both sides' snapshots, so that the echo of this write
    and the reconciler's next look at either record are recognised as already synced.
    """

    model_config = ConfigDict(frozen=True)

    command_id: str = Field(default_factory=lambda: uuid4().hex)
    connection_id: str
    object_type: ObjectType
    target: Side
    op: WriteOp
    source_id: str = Field(description="Record id on the source side")
    target_id: str | None = Field(None, description="Record id on the target side; None to create")
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Target-side property names and values to write"
    )
    synced: dict[str, Any] = Field(default_factory=dict)
    kind: str | None = Field(
        None, description="Activities: the kind a create makes (task, call...)"
    )
    associations: dict[str, str] = Field(
        default_factory=dict,
        description="Associated object → the target-side id of the record to associate with",
    )
    caused_by: str = Field(description="event_id of the change that led to this write")
    reason: str = Field("", description="Why: the rule that decided this write, for the audit")
    bulk: bool = Field(
        False,
        description="Part of a bulk stream (an initial sync, a poll's catch-up): its writer "
        "waits longer to fill the target's batch API; a person's change goes at once",
    )
    issued_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def partition_key(self) -> bytes:
        return f"{self.connection_id}:{self.target.other}:{self.source_id}".encode()


class WriteStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    RETRY = "retry"


class WriteOutcome(BaseModel):
    command_id: str
    status: WriteStatus
    target_id: str | None = None
    error_category: str | None = None
    error_message: str | None = None
