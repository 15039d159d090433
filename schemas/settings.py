"""Sync settings: what an admin chooses for one object of one connection."""

from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, field_validator


class Direction(StrEnum):
    TWO_WAY = "two_way"
    TO_HUBSPOT = "to_hubspot"
    TO_APP = "to_app"


class SyncState(StrEnum):
    DRAFT = "draft"
    INITIAL_SYNC = "initial_sync"
    SYNCING = "syncing"
    OFF = "off"


# The states in which a sync reads changes and writes them.
RUNNING_STATES = (SyncState.INITIAL_SYNC, SyncState.SYNCING)


# How one field resolves a difference between the two sides (see docs/mappings.md).
MappingRule = Literal[
    "default",
    "prefer_hubspot_unless_blank",
    "prefer_app_unless_blank",
    "always_hubspot",
    "always_app",
    "most_recent",
    "dont_sync",
]
MAPPING_RULES: tuple[str, ...] = get_args(MappingRule)

FilterOp = Literal[
    "eq", "neq", "has_value", "not_has_value", "in", "not_in", "contains", "gt", "lt"
]
FILTER_OPS: tuple[str, ...] = get_args(FilterOp)


class FieldMapping(BaseModel):
    hubspot: str = Field(description="HubSpot property name")
    app: str = Field(description="App field name")
    enabled: bool = True
    direction: Direction | None = Field(
        None,
        description="Where this field may be written; None means the sync's direction. The "
        "sync's direction still caps it: a field never flows where the sync does not",
    )
    rule: MappingRule = Field(
        "default",
        description="Which value wins when the sides differ; `default` is the sync's "
        "conflict_winner (its value unless blank), `dont_sync` never writes the field",
    )
    value_map: dict[str, str] | None = Field(
        None,
        description="Enumeration/picklist fields: HubSpot option value -> app option value, as "
        "strings; one-to-one for two-way fields, many-to-one allowed one way",
    )
    hubspot_type: str | None = Field(
        None,
        description="string, number, date, datetime, enumeration or bool; None: the object's "
        "built-in type for the property, or untyped (compared as text)",
    )
    app_type: str | None = Field(
        None,
        description="string, memo, integer, money, decimal, datetime, dateonly, picklist or "
        "boolean; None: the object's built-in type for the field, or untyped",
    )

    @field_validator("value_map", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        # Picklist values are integers in the app; accept them and keep them as text.
        if isinstance(value, dict):
            return {str(k): _text(v) for k, v in value.items()}
        return value


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


class Filter(BaseModel):
    property: str
    op: FilterOp = "eq"
    value: Any = Field(
        None, description="A list for in/not_in; a number or date for gt/lt; none for has_value"
    )


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
    propagate_deletes: bool = Field(
        False,
        description="A record deleted on one side is deleted on the other too, where the "
        "direction allows writing there; off, its link is only marked deleted",
    )
    filters: SideFilters = Field(default_factory=SideFilters)
