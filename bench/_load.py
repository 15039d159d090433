"""An open-loop load of people's changes in the two sandboxes, for the latency benchmark, and
how busy it kept the machine.

Each change is one record changed at one moment: created in HubSpot or in Dynamics, updated
in either, or updated in both at once (a conflict, which HubSpot wins). Its `intended` time is
fixed in advance by the rate (`start + i / rate`) and a change is sent when its time comes,
whether or not earlier ones have been answered: a sandbox or a generator that falls behind
shows as latency, instead of hiding the queue behind it (coordinated omission).

Every change writes a value used nowhere else (an email for a create, a first name for an
update), so the write that carries it across names the change it lands for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
import psutil

from services.devstack.stack import Stack

ORG = "demo"
# A person's edit in the app's UI: HubSpot neither counts nor limits it, and in both apps the
# change is a person's, so datasync does not take it for an echo of its own write.
USER = {"X-Sandbox-Actor": "user"}
# Requests in flight per sandbox. A sandbox serves one request at a time in milliseconds, so a
# few carry hundreds of changes a second; more would only queue in its socket, and cost the
# generator (httpx's pool checks each idle connection's socket on every request). Beyond
# them changes wait their turn here, and their latency, counted from when they were due,
# shows it.
CONNECTIONS = 8


class Kind(StrEnum):
    HUBSPOT_CREATE = "create in HubSpot"
    APP_CREATE = "create in Dynamics"
    HUBSPOT_UPDATE = "update in HubSpot"
    APP_UPDATE = "update in Dynamics"
    BOTH_UPDATE = "update in both"

    @property
    def is_update(self) -> bool:
        return self in (Kind.HUBSPOT_UPDATE, Kind.APP_UPDATE, Kind.BOTH_UPDATE)


# A quarter creates, three quarters updates, a tenth of the updated records edited on both
# sides at once; each direction carries half of the rest.
MIX = {
    Kind.HUBSPOT_CREATE: 0.125,
    Kind.APP_CREATE: 0.125,
    Kind.HUBSPOT_UPDATE: 0.3375,
    Kind.APP_UPDATE: 0.3375,
    Kind.BOTH_UPDATE: 0.075,
}
# Requests each change sends Dynamics, on average (a conflict sends one to each app).
DYNAMICS_SHARE = MIX[Kind.APP_CREATE] + MIX[Kind.APP_UPDATE] + MIX[Kind.BOTH_UPDATE]

Landing = tuple[str, str, str]
"""An audit row that shows a change landed: (target side, target field, new value)."""


@dataclass
class Change:
    kind: Kind
    value: str  # the value written where the change is made (HubSpot's, for a conflict)
    pair: int | None = None  # the seeded pair an update edits
    app_value: str | None = None  # what a conflict writes into Dynamics (the losing value)
    intended: float = 0.0  # epoch seconds this change was due to be made
    sent: float = 0.0  # epoch seconds its first request got a connection
    answered: dict[str, float] = field(default_factory=dict)  # epoch seconds, by app
    unsent: bool = False  # not sent: the apps had fallen too far behind the rate
    failed: str | None = None  # why an app did not make the change
    record_id: str | None = None  # the record a create made
    ingested: float | None = None  # epoch seconds ingest published the change's event
    commanded: float | None = None  # epoch seconds the processor published its write
    landed: float | None = None  # epoch seconds the write carrying it was stored
    loser_landed: bool = False  # a conflict's losing value was written into HubSpot

    @property
    def made(self) -> bool:
        return not self.unsent and self.failed is None

    @property
    def landing(self) -> Landing:
        """The write that completes the change: the value reaching the other side (for a
        conflict, HubSpot's value reaching Dynamics)."""
        match self.kind:
            case Kind.HUBSPOT_CREATE:
                return ("app", "emailaddress1", self.value)
            case Kind.APP_CREATE:
                return ("hubspot", "email", self.value)
            case Kind.APP_UPDATE:
                return ("hubspot", "firstname", self.value)
            case _:
                return ("app", "firstname", self.value)

    @property
    def loser(self) -> Landing | None:
        """A write that should not happen: a conflict's losing value reaching HubSpot."""
        return ("hubspot", "firstname", self.app_value) if self.app_value else None

    @property
    def source(self) -> tuple[str, str]:
        """What the change's event carries, to know it by: (side, record id) for a create,
        (side, the value written) for an update (HubSpot's side for a conflict)."""
        if self.kind is Kind.HUBSPOT_CREATE:
            return ("hubspot", self.record_id or "")
        if self.kind is Kind.APP_CREATE:
            return ("app", self.record_id or "")
        return ("app" if self.kind is Kind.APP_UPDATE else "hubspot", self.value)

    @property
    def spread(self) -> float:
        """Seconds between a conflict's two edits being answered: "at once" only while
        neither app is behind."""
        times = self.answered.values()
        return max(times) - min(times) if times else 0.0

    @property
    def latency(self) -> float:
        """Seconds from when the change was due to when it landed; infinite if it did not."""
        return self.landed - self.intended if self.landed is not None else float("inf")


def pair_person(j: int) -> dict[str, str]:
    """The seeded pair j as HubSpot holds it; Dynamics holds the same values."""
    return {"email": f"pair{j}@bench.example", "firstname": f"First{j}", "lastname": f"Last{j}"}


def as_app(person: dict[str, str]) -> dict[str, str]:
    return {
        "emailaddress1": person["email"],
        "firstname": person["firstname"],
        "lastname": person["lastname"],
    }


class Plan:
    """The changes of each step of a sweep, over a pool of seeded pairs that updates take in
    turn, so that a pair is edited again only after the rest of the pool."""

    def __init__(self, pairs: int, seed: int = 7) -> None:
        self.pairs = pairs
        self.random = random.Random(seed)
        self.next_pair = 0

    def changes(self, step: int, count: int) -> list[Change]:
        kinds = self.random.choices(list(MIX), weights=list(MIX.values()), k=count)
        return [self._change(step, i, kind) for i, kind in enumerate(kinds)]

    def _change(self, step: int, i: int, kind: Kind) -> Change:
        tag = f"s{step}n{i}"
        if not kind.is_update:
            side = "h" if kind is Kind.HUBSPOT_CREATE else "d"
            return Change(kind, f"new-{tag}{side}@bench.example")
        pair, self.next_pair = self.next_pair, (self.next_pair + 1) % self.pairs
        if kind is Kind.BOTH_UPDATE:
            return Change(kind, f"h{tag}", pair, app_value=f"d{tag}")
        return Change(kind, f"u{tag}", pair)


# A person's hands in the apps --------------------------------------------------------------


class App:
    """One sandbox's API as a person uses it. A request waits for one of `CONNECTIONS` slots
    here rather than in httpx's pool, which looks through every queued request each time it
    sends one: a queue of thousands would cost the generator all its CPU."""

    def __init__(self, name: str, base_url: str, token: str) -> None:
        self.name = name
        self.base = base_url  # joined by hand: httpx would put a "/" before Dataverse's "(id)"
        self.http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}", **USER},
            limits=httpx.Limits(max_connections=CONNECTIONS),
            timeout=60,
            trust_env=False,
        )
        self.slots = asyncio.Semaphore(CONNECTIONS)

    async def send(self, change: Change, method: str, path: str, body: Any) -> httpx.Response:
        async with self.slots:
            change.sent = change.sent or time.time()
            response = await self.http.request(method, self.base + path, json=body)
        change.answered[self.name] = time.time()
        return response


class Sandboxes:
    """A person's hands in both apps."""

    def __init__(
        self, stack: Stack, hubspot_token: str, dynamics_token: str, ids: dict[str, list[str]]
    ) -> None:
        """`ids`: the seeded pairs' record ids in each app ("hubspot", "app"), in pair order."""
        contacts = f"{stack.dynamics_url}/{ORG}/api/data/v9.2/contacts"
        self.hubspot = App("hubspot", f"{stack.hubspot_url}/crm/v3/objects/contacts", hubspot_token)
        self.dynamics = App("app", contacts, dynamics_token)
        self.ids = ids

    async def __aenter__(self) -> Sandboxes:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(self.hubspot.http.aclose(), self.dynamics.http.aclose())

    async def make(self, change: Change) -> None:
        """Make the change as a person would; a refusal or an error is kept in `failed`."""
        try:
            responses = await self._requests(change)
        except httpx.HTTPError as exc:
            change.failed = f"{type(exc).__name__}: {exc}"
            return
        failures = [r for r in responses if not r.is_success]
        if failures:
            change.failed = f"{failures[0].status_code}: {failures[0].text[:200]}"
        elif change.kind is Kind.HUBSPOT_CREATE:
            change.record_id = str(responses[0].json()["id"])
        elif change.kind is Kind.APP_CREATE:
            entity = responses[0].headers["OData-EntityId"]
            change.record_id = entity.rsplit("(", 1)[1].rstrip(")")

    async def _requests(self, change: Change) -> Sequence[httpx.Response]:
        hubspot, dynamics = self.hubspot, self.dynamics
        if change.kind is Kind.HUBSPOT_CREATE:
            return [await hubspot.send(change, "POST", "", {"properties": _new(change.value)})]
        if change.kind is Kind.APP_CREATE:
            return [await dynamics.send(change, "POST", "", as_app(_new(change.value)))]
        pair = change.pair
        assert pair is not None, "an update edits a seeded pair"
        hubspot_id, app_id = self.ids["hubspot"][pair], self.ids["app"][pair]
        edits = []
        if change.kind in (Kind.HUBSPOT_UPDATE, Kind.BOTH_UPDATE):
            body = {"properties": {"firstname": change.value}}
            edits.append(hubspot.send(change, "PATCH", f"/{hubspot_id}", body))
        app_value = change.value if change.kind is Kind.APP_UPDATE else change.app_value
        if app_value is not None:
            edits.append(dynamics.send(change, "PATCH", f"({app_id})", {"firstname": app_value}))
        return await asyncio.gather(*edits)

    async def hubspot_names(self, pairs: Sequence[int]) -> dict[int, tuple[str, float]]:
        """Each pair's first name in HubSpot and when HubSpot last modified the record
        (epoch seconds, HubSpot's own millisecond stamp)."""
        ids = {self.ids["hubspot"][j]: j for j in pairs}
        found: dict[int, tuple[str, float]] = {}
        chunk = list(ids)
        for start in range(0, len(chunk), 100):
            body = {
                "inputs": [{"id": i} for i in chunk[start : start + 100]],
                "properties": ["firstname"],
            }
            response = await self.hubspot.http.post(f"{self.hubspot.base}/batch/read", json=body)
            response.raise_for_status()
            for record in response.json()["results"]:
                stamp = datetime.fromisoformat(record["updatedAt"].replace("Z", "+00:00"))
                name = str(record["properties"].get("firstname"))
                found[ids[str(record["id"])]] = (name, stamp.timestamp())
        return found


def _new(email: str) -> dict[str, str]:
    return {"email": email, "firstname": "New", "lastname": email.split("@")[0]}


async def open_loop(
    changes: list[Change],
    rate: float,
    make: Callable[[Change], Coroutine[Any, Any, None]],
    behind_limit: float,
) -> int:
    """Make change i at `start + i / rate`, each in its own task, never waiting for earlier
    ones; return once every change sent has been answered. A generator that falls behind its
    schedule starts the late changes at once (their `intended` time stays what it was). Once a
    change has waited `behind_limit` seconds past its time without an answer, the apps cannot
    take the rate: the changes not sent by then are left `unsent`. Returns how many."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    epoch_start = time.time() + (start - loop.time())
    pending: deque[tuple[float, asyncio.Task[None], Change]] = deque()
    for i, change in enumerate(changes):
        change.intended = epoch_start + i / rate
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif i % 64 == 0:
            await asyncio.sleep(0)  # behind schedule: let the sends already started go out
        while pending and pending[0][1].done():
            pending.popleft()
        if pending and loop.time() - pending[0][0] > behind_limit:
            for late in changes[i:]:
                late.unsent = True
            for _, task, queued in pending:
                if not queued.sent:
                    queued.unsent = True
                    task.cancel()
            await asyncio.gather(*(task for _, task, _ in pending), return_exceptions=True)
            return sum(1 for c in changes if c.unsent)
        pending.append((due, asyncio.create_task(make(change)), change))
    await asyncio.gather(*(task for _, task, _ in pending))
    return 0


# How busy the machine was ------------------------------------------------------------------


@dataclass
class Machine:
    """How busy the machine was over a stretch of time."""

    busy: float = 0.0  # share of all CPUs' time spent busy, whoever's
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # os.getloadavg() at the end
    cores: dict[str, float] = field(default_factory=dict)  # cores each process used on average


class Stopwatch:
    """Started, it notes the CPU time spent so far; `read` says how busy the stretch since was."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.started = time.monotonic()
        self.cpu = _cpu_totals()
        self.processes = _process_cpu(stack)

    def read(self) -> Machine:
        seconds = time.monotonic() - self.started
        busy, total = (b - a for a, b in zip(self.cpu, _cpu_totals(), strict=True))
        now = _process_cpu(self.stack)
        cores = {n: (now[n] - self.processes[n]) / seconds for n in now if n in self.processes}
        return Machine(busy / total if total else 0.0, os.getloadavg(), cores)


def _cpu_totals() -> tuple[float, float]:
    """(busy, all) time of every CPU since boot, in jiffies."""
    with open("/proc/stat") as stat:
        fields = [float(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def _process_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds of each of the stack's processes, with their children (PostgreSQL's
    backends), and of this one (the generator)."""
    seconds = {"generator": time.process_time()}
    for child in stack.supervisor.children:
        if child.pid is None:
            continue
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(child.pid)
            total = 0.0
            for p in [process, *process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # exited since it was listed
                    times = p.cpu_times()
                    total += times.user + times.system
            seconds[child.name] = total
    return seconds
