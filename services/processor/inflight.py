"""The values this processor asked writers to put into records, remembered for a while.

A pair's other side is read to catch changes made on both sides at once. Until a write's
outcome is stored, the snapshot still holds the values from before it, so the record read
shows datasync's own write as if someone had changed it there. Those values are taken for
what they are: not a change, so they never outvote a newer change of the record they came from.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

from schemas.events import Side
from services.domain.mapping import Canonical

_Key = tuple[str, str, Side, str]


class RecentWrites:
    def __init__(
        self,
        ttl_seconds: float = 600.0,
        max_records: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_records = max_records
        self._clock = clock
        self._writes: OrderedDict[_Key, tuple[float, Canonical]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._writes)

    def remember(
        self, connection_id: str, object_type: str, target: Side, record_id: str, values: Canonical
    ) -> None:
        key = (connection_id, object_type, target, record_id)
        now = self._clock()
        earlier = self._writes.pop(key, None)
        merged = (earlier[1] if earlier and now - earlier[0] < self.ttl_seconds else {}) | values
        self._writes[key] = (now, merged)
        while len(self._writes) > self.max_records:
            self._writes.popitem(last=False)

    def mask(
        self,
        connection_id: str,
        object_type: str,
        side: Side,
        record_id: str,
        current: Canonical,
        snapshot: Canonical,
    ) -> Canonical:
        """`current` with each value datasync wrote into the record itself replaced by the
        snapshot's value, so that it does not count as a change made there."""
        entry = self._writes.get((connection_id, object_type, side, record_id))
        if entry is None:
            return current
        at, written = entry
        if self._clock() - at >= self.ttl_seconds:
            del self._writes[(connection_id, object_type, side, record_id)]
            return current
        return {
            key: snapshot.get(key) if key in written and written[key] == value else value
            for key, value in current.items()
        }
