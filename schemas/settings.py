"""Sync settings: what an admin chooses for one object of one connection."""

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class Direction(StrEnum):
    TWO_WAY = "two_way"
    TO_HUBSPOT = "to_hubspot"
    TO_APP = "to_app"


class SyncState(StrEnum):
    DRAFT = "draft"
    INITIAL_SYNC = "initial_sync"
    SYNCING = "syncing"
    OFF = "off"


class FieldMapping(BaseModel):
    hubspot: str = Field(description="HubSpot property name")
    app: str = Field(description="App field name")
    enabled: bool = True


class Filter(BaseModel):
    property: str
    op: Literal["eq", "neq", "has_value", "not_has_value"] = "eq"
    value: Any = None


class SideFilters(BaseModel):
    hubspot: list[Filter] = Field(default_factory=list)
    app: list[Filter] = Field(default_factory=list)


class SyncSettings(BaseModel):
    """The settings body of `PUT /v1/connections/{cid}/syncs/{object}`; omitted fields default."""

    direction: Direction = Direction.TWO_WAY
    conflict_winner: Literal["hubspot", "app"] = "hubspot"
    mappings: list[FieldMapping] | None = Field(
        None, description="None means the object's default mappings"
    )
    only_with_email: bool | None = Field(None, description="None means true for contacts")
    filters: SideFilters = Field(default_factory=SideFilters)
