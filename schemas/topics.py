"""Every Kafka topic name, in one place: one changes topic per object, one writes topic per
object and target side, and the dead-letter topic."""

from schemas.events import Side

DEAD_LETTER = "datasync.deadletter"


def changes(object_type: str) -> str:
    return f"datasync.{object_type}.changes"


def writes(object_type: str, target: Side) -> str:
    return f"datasync.{object_type}.writes.{target}"
