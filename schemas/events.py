"""Change events: what ingest and the reconciler publish to `datasync.<object>.changes`."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from schemas.objects import ObjectType


class Side(StrEnum):
    """Which end of a sync a record lives on."""

    HUBSPOT = "hubspot"
    APP = "app"

    @property
    def other(self) -> "Side":
        return Side.APP if self is Side.HUBSPOT else Side.HUBSPOT


class ChangeKind(StrEnum):
    UPSERT = "upsert"  # created or changed; `properties` may be partial (a hint) or full
    DELETE = "delete"
    MERGE = "merge"  # HubSpot merged `merged_ids` into `record_id`
    ASSOCIATION = "association"  # the record's associations changed


class ChangeEvent(BaseModel):
    """One record changed on one side.

    Events from HubSpot carry no connection: HubSpot is the hub, and the processor fans the
    change out to every connection that syncs the object. Events from an app carry the
    connection they came from.
    """

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(default_factory=lambda: uuid4().hex, description="Unique per change")
    object_type: ObjectType
    side: Side
    connection_id: str | None = Field(
        None,
        description="The app connection for app events; for HubSpot events None (every "
        "connection syncing the object) or the one connection an initial sync runs for",
    )
    record_id: str
    kind: ChangeKind = ChangeKind.UPSERT
    properties: dict[str, Any] | None = Field(
        None, description="Full record when `complete`, else the changed properties or None"
    )
    complete: bool = Field(False, description="True when `properties` is the whole record")
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    merged_ids: list[str] = Field(default_factory=list, description="Merge events only")
    counterpart: dict[str, Any] | None = Field(
        None,
        description="Initial sync only: the full record on the other side it was matched with",
    )
    counterpart_id: str | None = None
    origin: str = Field("webhook", description="webhook | reconciler | initial_sync")
    self_originated: bool = Field(
        False, description="The source says datasync's own credentials made this change"
    )

    def partition_key(self) -> bytes:
        return f"{self.side}:{self.record_id}".encode()
