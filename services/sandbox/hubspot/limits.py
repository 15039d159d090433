"""What stands between a request and the API: rate limits, injected faults, request counters.

HubSpot's usage guidelines: private apps get a rolling ten-second budget (100 requests on the
free and starter tiers) reported in `X-HubSpot-RateLimit-Max`, `-Remaining` and
`-Interval-Milliseconds` on its responses; CRM search additionally allows a few requests per
second per token (five here, as the current guidelines state). Private apps also have a daily
budget (250,000 requests on Free and Starter, reset at midnight) which HubSpot's changelog says
is reported in `X-HubSpot-RateLimit-Daily` and `-Daily-Remaining` (OAuth apps, which have no
daily budget, do not get them); running out is a 429 with policyName DAILY.
"""

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"
WINDOW_SECONDS = 10.0
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: dict[str, str]
    policy: str | None = None  # which budget ran out


class RateLimiter:
    """Rolling windows per token; only admitted requests spend budget."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        ten_second_budget: int = 100,
        search_per_second: int = 5,
        daily_budget: int = 250_000,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.wall_clock = wall_clock
        self._defaults = (ten_second_budget, search_per_second, daily_budget)
        self.ten_second_budget = ten_second_budget
        self.search_per_second = search_per_second
        self.daily_budget = daily_budget
        self._calls: dict[str, deque[float]] = {}
        self._searches: dict[str, deque[float]] = {}
        self._days: dict[str, tuple[int, int]] = {}  # token -> (UTC day, requests that day)

    def admit(self, token: str, search: bool) -> Decision:
        now = self.clock()
        calls = _window(self._calls, token, now, WINDOW_SECONDS)
        today = int(self.wall_clock() // DAY_SECONDS)
        day, used = self._days.get(token, (today, 0))
        used = used if day == today else 0
        if used >= self.daily_budget:
            return Decision(False, self._headers(self.ten_second_budget - len(calls), 0), DAILY)
        daily_left = self.daily_budget - used
        if len(calls) >= self.ten_second_budget:
            return Decision(False, self._headers(0, daily_left), TEN_SECONDLY)
        if search:
            searches = _window(self._searches, token, now, 1.0)
            if len(searches) >= self.search_per_second:
                headers = self._headers(self.ten_second_budget - len(calls), daily_left)
                return Decision(False, headers, SECONDLY)
            searches.append(now)
        calls.append(now)
        self._days[token] = (today, used + 1)
        return Decision(True, self._headers(self.ten_second_budget - len(calls), daily_left - 1))

    def exhausted(self) -> dict[str, str]:
        return self._headers(0, self.daily_budget)

    def used_today(self, token: str) -> int:
        day, used = self._days.get(token, (0, 0))
        return used if day == int(self.wall_clock() // DAY_SECONDS) else 0

    def reset(self) -> None:
        """Empty the windows and restore the default budgets."""
        self._calls.clear()
        self._searches.clear()
        self._days.clear()
        self.ten_second_budget, self.search_per_second, self.daily_budget = self._defaults

    def _headers(self, remaining: int, daily_remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_budget),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(daily_remaining, 0)),
            "X-HubSpot-RateLimit-Max": str(self.ten_second_budget),
            "X-HubSpot-RateLimit-Remaining": str(max(remaining, 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
        }


def _window(windows: dict[str, deque[float]], token: str, now: float, span: float) -> deque[float]:
    calls = windows.setdefault(token, deque())
    while calls and calls[0] <= now - span:
        calls.popleft()
    return calls


@dataclass
class Fault:
    """The next `remaining` matching requests hang `delay_seconds`, then fail with `status`."""

    status: int | None
    remaining: int
    path_prefix: str | None = None
    delay_seconds: float = 0.0


class Faults:
    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._pending.append(fault)

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault that matches the path."""
        for fault in self._pending:
            if fault.path_prefix is None or path.startswith(fault.path_prefix):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._pending.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._pending.clear()


@dataclass
class Counters:
    requests: Counter[str] = field(default_factory=Counter)
    writes: int = 0  # successful create / update / archive requests, single or batch
    records_written: int = 0  # records those requests created, changed or archived
    throttled: int = 0  # requests refused with a 429 because a rate limit ran out

    def count_write(self, records: int) -> None:
        if records:
            self.writes += 1
            self.records_written += records

    def reset(self) -> None:
        self.requests.clear()
        self.writes = 0
        self.records_written = 0
        self.throttled = 0
