"""The single source of every event, command, setting and API body that datasync exchanges."""

from schemas.commands import WriteCommand, WriteOp, WriteOutcome, WriteStatus
from schemas.events import ChangeEvent, ChangeKind, Side
from schemas.objects import OBJECT_TYPES, ObjectType
from schemas.settings import Direction, FieldMapping, Filter, SyncSettings, SyncState

__all__ = [
    "OBJECT_TYPES",
    "ChangeEvent",
    "ChangeKind",
    "Direction",
    "FieldMapping",
    "Filter",
    "ObjectType",
    "Side",
    "SyncSettings",
    "SyncState",
    "WriteCommand",
    "WriteOp",
    "WriteOutcome",
    "WriteStatus",
]
