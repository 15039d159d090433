"""Everything one sandbox process holds: organisations, request budgets, faults, counters.

Service protection (Service protection API limits): Dataverse counts requests in a 300-second
sliding window, 6,000 by default, and answers 429 with `Retry-After` in seconds and error
0x80072322 once over. The sandbox keeps one budget per organisation; tests change it through
`PUT /_sandbox/limits`. A `$batch` takes one request from the budget however many operations
it holds; each write inside it counts in `writes`.
"""

import math
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from services.config import SandboxSettings
from services.sandbox.dynamics.store import Org
from services.sandbox.dynamics.webhooks import WebhookDispatcher

DEFAULT_ORGS = ("demo", "demo2")
ORG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass
class Limits:
    requests_per_window: int = 6000
    window_seconds: float = 300.0


@dataclass
class Fault:
    """The next `remaining` matching requests fail with `status` (or are only delayed)."""

    status: int | None
    remaining: int
    org: str | None = None
    path_prefix: str | None = None
    delay_seconds: float = 0.0
    retry_after: int = 1

    def matches(self, org: str, path: str, resource: str) -> bool:
        if self.org is not None and self.org != org:
            return False
        if self.path_prefix is None:
            return True
        prefix = self.path_prefix
        return path.startswith(prefix) if prefix.startswith("/") else resource.startswith(prefix)


@dataclass
class OrgCounters:
    requests: Counter[str] = field(default_factory=Counter)
    writes: int = 0  # successful create / update / delete requests on CRM tables
    records_written: int = 0
    throttled: int = 0  # requests refused by the service protection budget
    batched_operations: int = 0  # operations received inside $batch requests


class Sandbox:
    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.webhooks = WebhookDispatcher()
        self.orgs: dict[str, Org] = {}
        self.limits = Limits()
        self.windows: dict[str, deque[float]] = {}
        self.faults: list[Fault] = []
        self.counters: dict[str, OrgCounters] = {}
        self.reset()

    def reset(self) -> None:
        self.orgs = {name: Org(name) for name in DEFAULT_ORGS}
        self.limits = Limits()
        self.windows = {}
        self.faults = []
        self.counters = {}
        self.webhooks.clear()

    def add_org(self, name: str) -> Org:
        if name not in self.orgs:
            self.orgs[name] = Org(name)
        return self.orgs[name]

    def counters_of(self, org: str) -> OrgCounters:
        return self.counters.setdefault(org, OrgCounters())

    def admit(self, org: str) -> int | None:
        """Records a request against the org's budget; the Retry-After seconds when over it."""
        clock = time.monotonic()
        window = self.windows.setdefault(org, deque())
        while window and window[0] <= clock - self.limits.window_seconds:
            window.popleft()
        if len(window) >= self.limits.requests_per_window:
            self.counters_of(org).throttled += 1
            return max(1, math.ceil(window[0] + self.limits.window_seconds - clock))
        window.append(clock)
        return None

    def take_fault(self, org: str, path: str, resource: str) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.matches(org, path, resource):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def counters_view(self, org: str | None) -> dict[str, object]:
        names = [org] if org is not None else sorted(set(self.counters) | set(self.orgs))
        requests: Counter[str] = Counter()
        totals = {"writes": 0, "records_written": 0, "throttled": 0, "batched_operations": 0}
        hooks = {"delivered": 0, "failed_attempts": 0, "pending": 0, "abandoned": 0}
        for name in names:
            counters = self.counters_of(name)
            requests.update(counters.requests)
            totals["writes"] += counters.writes
            totals["records_written"] += counters.records_written
            totals["throttled"] += counters.throttled
            totals["batched_operations"] += counters.batched_operations
            for key, value in self.webhooks.stats_of(name).view().items():
                hooks[key] += value
        return {"requests": dict(requests), **totals, "webhooks": hooks}

    def reset_counters(self) -> None:
        self.counters = {}
        self.webhooks.reset_counts()

    async def aclose(self) -> None:
        await self.webhooks.aclose()
