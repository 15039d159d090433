"""HubSpot's time formats: ISO-8601 UTC out, epoch milliseconds or ISO-8601 in."""

import functools
import re
from datetime import UTC, datetime

_EPOCH_MS = re.compile(r"^-?\d+$")


@functools.lru_cache(maxsize=4096)  # writes in one millisecond share their stamps
def iso(ms: int) -> str:
    """Like Java's Instant.toString(), which HubSpot emits: no fraction for whole seconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}Z" if ms % 1000 == 0 else f"{text}.{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=1 << 16)  # searches re-read the same stamps on every poll
def parse_datetime_ms(value: str) -> int | None:
    """Epoch milliseconds or ISO-8601 (date or datetime), as HubSpot accepts both."""
    text = value.strip()
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
