"""Records an initial sync holds back as duplicates, recorded as failing links so that health
and the errors view count them under the `duplicate` category.

A record is held back when another record on its own side has the same match key (which of
them is "the" record is for a person to decide), or when its key is held by several records
on the other side (matching it to one of them, or copying it, would make one more). The rows
get no retry time: retrying cannot help until someone merges the duplicates, after which the
record's next change syncs it.
"""

from dataclasses import dataclass

from schemas.events import Side
from services.store.repository import Store

SIDE_NAMES = {Side.HUBSPOT: "HubSpot", Side.APP: "the app"}

# Rows already there (a pair from an earlier sync, an exclusion, a duplicate recorded by the
# last initial sync) are left as they are.
_INSERT = (
    "INSERT INTO links (connection_id, object_type, hubspot_id, app_id, status,"
    " error_category, error_message) VALUES ($1, $2, $3, $4, 'failing', 'duplicate', $5)"
    " ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class HeldBack:
    side: Side
    record_id: str
    message: str
    ambiguous: bool = False  # held because of duplicates on the other side


def same_side_message(side: Side, key: str, holders: int) -> str:
    """`key` as `match_all` reports it: "email:ann@example.com" (or only the value)."""
    name, colon, value = key.partition(":")
    what = f"the same {name} {value!r}" if colon and name.isidentifier() else f"the key {key!r}"
    return (
        f"{holders} records in {SIDE_NAMES[side]} have {what}: none of them is matched or"
        " copied until only one has it"
    )


def other_side_message(side: Side) -> str:
    return (
        f"Several records in {SIDE_NAMES[side.other]} match this record: it is neither matched"
        " nor copied until only one does"
    )


async def record_held_back(
    store: Store, connection_id: str, object_type: str, held: list[HeldBack]
) -> None:
    if not held:
        return
    await store.pool.executemany(
        _INSERT,
        [
            (
                connection_id,
                object_type,
                h.record_id if h.side is Side.HUBSPOT else None,
                h.record_id if h.side is Side.APP else None,
                h.message,
            )
            for h in held
        ],
    )
