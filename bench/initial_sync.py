"""The initial sync of N contacts per side, half of them on both sides, through the whole stack.

The stack (`services.devstack.stack.Stack`, embedded broker and PostgreSQL, every service, both
sandboxes with their default request budgets) starts on free ports. Each sandbox is seeded
with N contacts; the first N/2 share their email with one on the other side, and of those a
quarter differ in jobtitle (HubSpot wins: an update in the app), a quarter lack the phone in
HubSpot (filled from the app: an update in HubSpot), and the rest agree on every field; with
`--both-ways` that last quarter differs both ways (an update on each side). A HubSpot account, a Dynamics connection and a two-way contacts sync are set up
through the control API and started; the clock runs from the start until health counts every
one of the 3N/2 entities in sync.

Measured against what the budgets and batch sizes allow:
- API calls per side (the sandboxes' counters) against the minimum: HubSpot reads N/100 list
  pages, creates the app-only half in batches of 100, updates the pairs it must in batches of
  100; Dynamics reads pages of 5,000 and writes `$batch`es of 1,000.
- wall time against the time HubSpot's budget (100 requests per rolling 10 s) needs for its
  minimum calls, the larger of the two sides' such bounds.
- 429s the sandboxes answered, and duplicates the sync created (records per email on each
  side afterwards; none were seeded).
- then the reconciler's first poll of the sync: it reads back every record modified since the
  sync started, the sync's own writes included (see `services/reconciler/first_poll.py`), so
  its calls are part of what the initial sync costs; they are counted apart, from when every
  entity is in sync until both watermarks have moved and the calls have stopped.

Also reported: the writers' batching during that backlog (records per HubSpot write call,
operations per Dataverse `$batch`) and the peak memory (resident set, each service with its
child processes) of every process of the stack, sampled twice a second.

`--lifted 100000,1000000` runs the sync once per size with both sandboxes' budgets and
datasync's own lifted: records per second, and whether each service's peak memory stays flat
as the record count grows (the ratio of its peak at the largest size to the smallest).

The sync starts `CLOCK_SKEW` after seeding: the first poll reads from the sync's start less
that margin, and a real account has not just had every one of its records written.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from _common import BenchError, Tail, connect_contacts_sync, save_results, say, table

from services.config import ReconcilerSettings, SandboxSettings, StackSettings
from services.devstack.stack import Stack
from services.devstack.supervisor import free_ports
from services.reconciler.first_poll import CLOCK_SKEW, initial_watermark

ORG = "demo"
SEED_CHUNK = 10_000
HUBSPOT_PAGE, HUBSPOT_BATCH, HUBSPOT_BUDGET, HUBSPOT_WINDOW = 100, 100, 100, 10.0
DYNAMICS_PAGE, DYNAMICS_BATCH, DYNAMICS_BUDGET, DYNAMICS_WINDOW = 5000, 1000, 6000, 300.0
STALL_LIMIT = 180.0  # seconds without progress before the run is declared stuck
CALLS_SETTLED = 5.0  # seconds without a call that end the look at the first poll
USER = {"X-Sandbox-Actor": "user"}  # the HubSpot sandbox neither counts nor limits a person
MEMORY_EVERY = 0.5  # seconds between memory samples
UNLIMITED = 1_000_000_000  # requests per window, for the lifted runs
# datasync's own budgets, lifted with the sandboxes' for `--lifted`
LIFTED_ENV = {
    "DATASYNC_HUBSPOT_REQUESTS_PER_WINDOW": str(UNLIMITED),
    "DATASYNC_DYNAMICS_REQUESTS_PER_WINDOW": str(UNLIMITED),
}


# The seeded world -------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    per_side: int
    shared: int
    both_ways: bool = False  # pairs with i % 4 == 3 need an update on each side

    def _kind(self, i: int) -> int:
        """0: the pair agrees, 1: the app is updated, 2: HubSpot is, 3: both are."""
        kind = i % 4
        return kind if kind != 3 or self.both_ways else 0

    @property
    def only(self) -> int:
        return self.per_side - self.shared

    @property
    def entities(self) -> int:
        return 2 * self.per_side - self.shared

    def hubspot_updates(self) -> int:
        return sum(1 for i in range(self.shared) if self._kind(i) in (2, 3))

    def app_updates(self) -> int:
        return sum(1 for i in range(self.shared) if self._kind(i) in (1, 3))

    def hubspot(self, i: int) -> dict[str, str]:
        if i >= self.shared:
            return _person(i, f"hubspot{i}@bench.example", "Engineer", phone=True)
        kind = self._kind(i)
        jobtitle = "Manager" if kind in (1, 3) else "Engineer"
        return _person(i, f"shared{i}@bench.example", jobtitle, phone=kind in (0, 1))

    def app(self, i: int) -> dict[str, str]:
        if i >= self.shared:
            person = _person(i, f"app{i}@bench.example", "Engineer", phone=True)
        else:
            person = _person(i, f"shared{i}@bench.example", "Engineer", phone=True)
        return {
            "emailaddress1": person["email"],
            "firstname": person["firstname"],
            "lastname": person["lastname"],
            "jobtitle": person["jobtitle"],
            "telephone1": person["phone"],
        }


def _person(i: int, email: str, jobtitle: str, phone: bool) -> dict[str, str]:
    person = {"email": email, "firstname": f"First{i}", "lastname": f"Last{i}"}
    person["jobtitle"] = jobtitle
    person["phone"] = f"+1555{i:07d}" if phone else ""
    return {k: v for k, v in person.items() if v or k == "phone"}


# The minimum -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Minimum:
    reads: int
    creates: int
    updates: int
    budget: int
    window: float

    @property
    def calls(self) -> int:
        return self.reads + self.creates + self.updates

    @property
    def seconds(self) -> float:
        """A rolling window lets `budget` calls go at once, then `budget` per window."""
        return max(0, self.calls - self.budget) * self.window / self.budget


def minimum(world: World) -> dict[str, Minimum]:
    up = math.ceil
    return {
        "hubspot": Minimum(
            up(world.per_side / HUBSPOT_PAGE),
            up(world.only / HUBSPOT_BATCH),
            up(world.hubspot_updates() / HUBSPOT_BATCH),
            HUBSPOT_BUDGET,
            HUBSPOT_WINDOW,
        ),
        "dynamics": Minimum(
            up(world.per_side / DYNAMICS_PAGE),
            up(world.only / DYNAMICS_BATCH),
            up(world.app_updates() / DYNAMICS_BATCH),
            DYNAMICS_BUDGET,
            DYNAMICS_WINDOW,
        ),
    }


# Memory ---------------------------------------------------------------------------------------


class MemoryWatch:
    """The peak resident memory of each process of the stack, its own child processes
    (PostgreSQL's backends) included, sampled every `MEMORY_EVERY` seconds."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.peaks: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> MemoryWatch:
        self._task = asyncio.create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is None:
            return
        if self._task.done() and self._task.exception() is not None:
            raise BenchError(f"the memory watch failed: {self._task.exception()!r}")
        self._task.cancel()

    async def _watch(self) -> None:
        while True:
            for child in self.stack.supervisor.children:
                if child.pid is None:
                    continue
                rss = _tree_rss(child.pid)
                if rss > self.peaks[child.name]:
                    self.peaks[child.name] = rss
            await asyncio.sleep(MEMORY_EVERY)


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue  # gone between the listing and the reading
    return total


# Running it -----------------------------------------------------------------------------------


async def seed(stack: Stack, world: World) -> None:
    async with httpx.AsyncClient(timeout=300) as http:
        for start in range(0, world.per_side, SEED_CHUNK):
            indices = range(start, min(start + SEED_CHUNK, world.per_side))
            hubspot, dynamics = await asyncio.gather(
                http.post(
                    f"{stack.hubspot_url}/_sandbox/seed",
                    json={"contacts": [world.hubspot(i) for i in indices]},
                ),
                http.post(
                    f"{stack.dynamics_url}/_sandbox/orgs/{ORG}/seed",
                    json={"contacts": [world.app(i) for i in indices]},
                ),
            )
            hubspot.raise_for_status()
            dynamics.raise_for_status()


async def lift_budgets(stack: Stack) -> None:
    """No rate limit in either sandbox (datasync's own budgets are lifted by `LIFTED_ENV`)."""
    async with httpx.AsyncClient() as http:
        hubspot = {
            "ten_second_budget": UNLIMITED,
            "search_per_second": UNLIMITED,
            "daily_budget": UNLIMITED,
        }
        (await http.put(f"{stack.hubspot_url}/_sandbox/limits", json=hubspot)).raise_for_status()
        dynamics = {"requests_per_window": UNLIMITED, "window_seconds": DYNAMICS_WINDOW}
        (await http.put(f"{stack.dynamics_url}/_sandbox/limits", json=dynamics)).raise_for_status()


async def counters(stack: Stack, reset: bool = False) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        if reset:
            (await http.delete(f"{stack.hubspot_url}/_sandbox/counters")).raise_for_status()
            (await http.delete(f"{stack.dynamics_url}/_sandbox/counters")).raise_for_status()
            return {}
        hubspot = await http.get(f"{stack.hubspot_url}/_sandbox/counters")
        dynamics = await http.get(f"{stack.dynamics_url}/_sandbox/counters", params={"org": ORG})
    return {"hubspot": hubspot.json(), "dynamics": dynamics.json()}


@dataclass
class Run:
    seconds: float
    health: dict[str, Any]
    counters: dict[str, dict[str, Any]]
    after_poll: dict[str, dict[str, Any]] | None = None  # counters once the first poll is done
    memory: dict[str, int] | None = None  # peak bytes resident per process of the stack


async def wait_in_sync(
    stack: Stack, api: httpx.AsyncClient, cid: str, world: World, tail: Tail
) -> Run:
    started = time.monotonic()
    (await api.post(f"/v1/connections/{cid}/syncs/contacts/start")).raise_for_status()
    last: tuple[Any, ...] = ()
    moved = time.monotonic()
    shown = 0.0
    while True:
        stack.check()
        health = (await api.get(f"/v1/connections/{cid}/health")).json()["objects"]["contacts"]
        now = time.monotonic()
        if health["in_sync"] >= world.entities:
            seconds = now - started
            return Run(seconds, health, await counters(stack))
        progress = health.get("initial_sync") or {}
        figures = (
            progress.get("phase"),
            progress.get("read"),
            progress.get("published"),
            health["in_sync"],
            health["failing"],
        )
        if figures != last:
            last, moved = figures, now
        elif now - moved > STALL_LIMIT:
            raise BenchError(
                f"nothing moved for {STALL_LIMIT:.0f} s: {health}\nlast output:\n{tail}"
            )
        if now - shown >= 10:
            shown = now
            say(
                f"{now - started:6.0f} s  {progress.get('phase')}: read {progress.get('read')},"
                f" published {progress.get('published')}, in sync {health['in_sync']:,},"
                f" failing {health['failing']:,}, pending {health['pending']:,}"
            )
        await asyncio.sleep(0.5)


async def wait_first_poll(stack: Stack, cid: str, run: Run, within: float) -> None:
    """Wait for the reconciler's first poll of the sync (both watermarks moved from where the
    initial sync set them) and for the calls it causes to stop; `run.after_poll` gets the
    counters then, or stays None if no poll came `within` seconds."""
    mark = initial_watermark(run.health.get("initial_sync") or {})
    deadline = time.monotonic() + within
    connection = await asyncpg.connect(stack.database_url)
    try:
        while True:
            stack.check()
            marks = await connection.fetch(
                "SELECT value FROM watermarks WHERE connection_id = $1"
                " AND object_type = 'contacts'",
                cid,
            )
            if len(marks) == 2 and all(m["value"] != mark for m in marks):
                break
            if time.monotonic() > deadline:
                say(f"no poll of the sync within {within:.0f} s after it was in sync")
                return
            await asyncio.sleep(1.0)
    finally:
        await connection.close()
    last: tuple[int, ...] = ()
    while True:
        now = await counters(stack)
        calls = tuple(sum(now[s]["requests"].values()) for s in ("hubspot", "dynamics"))
        if calls == last:
            run.after_poll = now
            return
        last = calls
        await asyncio.sleep(CALLS_SETTLED)


async def emails(stack: Stack) -> dict[str, Counter[str]]:
    """Records per email on each side, read as a person would (HubSpot does not count it)."""
    found: dict[str, Counter[str]] = {"hubspot": Counter(), "dynamics": Counter()}
    token = SandboxSettings()
    async with httpx.AsyncClient(timeout=120) as http:
        headers = {"Authorization": f"Bearer {token.sandbox_hubspot_token}", **USER}
        params: dict[str, Any] = {"limit": 100, "properties": "email"}
        while True:
            response = await http.get(
                f"{stack.hubspot_url}/crm/v3/objects/contacts", params=params, headers=headers
            )
            data = response.json()
            found["hubspot"].update(
                str(r["properties"].get("email") or "").strip().lower() for r in data["results"]
            )
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            params["after"] = after
        headers = {
            "Authorization": f"Bearer {token.sandbox_dynamics_token}",
            "Prefer": f"odata.maxpagesize={DYNAMICS_PAGE}",
        }
        url: str | None = f"{stack.dynamics_url}/{ORG}/api/data/v9.2/contacts?$select=emailaddress1"
        while url:
            data = (await http.get(url, headers=headers)).json()
            found["dynamics"].update(
                str(r.get("emailaddress1") or "").strip().lower() for r in data["value"]
            )
            url = data.get("@odata.nextLink")
    return found


def calls_by_kind(side: str, requests: dict[str, int]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for route, n in requests.items():
        if side == "hubspot":
            kind = (
                "list"
                if route == "GET /crm/v3/objects/contacts"
                else "associations"
                if "/associations/" in route
                else route.rsplit("/", 1)[-1]
                if "/batch/" in route or route.endswith("/search")
                else "other"
            )
        else:
            # Dataverse reads are all `GET <entity set>`: pages of the initial sync and the
            # polls, and reads by id.
            kind = {"GET contacts": "get", "POST $batch": "$batch"}.get(route, "other")
        kinds[kind] += n
    return kinds


async def sync_once(
    world: World,
    reconcile_interval: float | None,
    log: Path | None = None,
    first_poll: bool = True,
    lifted: bool = False,
) -> tuple[Run, dict[str, Counter[str]]]:
    """One initial sync of `world` on a stack of its own: its figures and the records per
    email on each side afterwards."""
    say(
        f"initial sync: {world.per_side:,} contacts per side, {world.shared:,} on both,"
        f" {os.cpu_count()} CPUs"
        + (f", reconciler polls every {reconcile_interval:g} s" if reconcile_interval else "")
        + (", request budgets lifted" if lifted else "")
    )
    data_dir = Path(tempfile.mkdtemp(prefix="datasync-bench-initial-"))
    api_port, ingest, hubspot, dynamics, broker, db = free_ports(6)
    settings = StackSettings(
        data_dir=data_dir,
        api_port=api_port,
        ingest_port=ingest,
        sandbox_hubspot_port=hubspot,
        sandbox_dynamics_port=dynamics,
        broker_port=broker,
        db_port=db,
    )
    tail = Tail(log=log)
    env = (
        {"DATASYNC_RECONCILE_INTERVAL_SECONDS": str(reconcile_interval)}
        if reconcile_interval
        else {}
    )
    if lifted:
        env.update(LIFTED_ENV)
    stack = Stack(settings, output=tail, extra_env=env, durable_database=False)
    try:
        started = time.monotonic()
        await stack.start()
        say(f"stack up in {time.monotonic() - started:.1f} s")
        with MemoryWatch(stack) as memory:
            if lifted:
                await lift_budgets(stack)
            started = time.monotonic()
            await seed(stack, world)
            say(f"seeded {2 * world.per_side:,} contacts in {time.monotonic() - started:.1f} s")
            # Dataverse filters by whole seconds, so a second more keeps the seeding out.
            await asyncio.sleep(CLOCK_SKEW.total_seconds() + 2)
            headers = {"Authorization": f"Bearer {stack.admin_token}"}
            async with httpx.AsyncClient(
                base_url=stack.api_url, headers=headers, timeout=60
            ) as api:
                cid = await connect_contacts_sync(stack, api, ORG)
                await counters(stack, reset=True)
                say(f"connection {cid} set up; sync started")
                result = await wait_in_sync(stack, api, cid, world, tail)
            say(f"all {world.entities:,} in sync after {result.seconds:.1f} s")
            interval = reconcile_interval or ReconcilerSettings().reconcile_interval_seconds
            if first_poll:
                say("waiting for the reconciler's first poll of the sync")
                await wait_first_poll(stack, cid, result, 2 * interval + STALL_LIMIT)
            result.memory = dict(memory.peaks)
        say("counting duplicates")
        found = await emails(stack)
    finally:
        await stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return result, found


async def run(
    world: World, reconcile_interval: float | None, log: Path | None, first_poll: bool
) -> None:
    result, found = await sync_once(world, reconcile_interval, log, first_poll)
    report(
        world, result, found, reconcile_interval or ReconcilerSettings().reconcile_interval_seconds
    )


async def run_lifted(sizes: list[int], log: Path | None) -> None:
    """The sync at each size with every budget lifted: its rate, and each service's peak
    memory next to its peak at the smallest size."""
    runs: list[tuple[World, Run, int]] = []
    for size in sizes:
        world = World(size, size // 2)
        result, found = await sync_once(world, None, log, first_poll=False, lifted=True)
        duplicates = sum(n - 1 for side in found.values() for n in side.values() if n > 1)
        runs.append((world, result, duplicates))
    smallest = runs[0][1].memory or {}
    names = sorted(smallest, key=lambda n: -smallest[n])
    print()
    print(
        table(
            ("contacts per side", "entities", "seconds", "entities/s", "duplicates"),
            [
                (
                    f"{w.per_side:,}",
                    f"{w.entities:,}",
                    f"{r.seconds:.1f}",
                    f"{w.entities / r.seconds:,.0f}",
                    f"{d:,}",
                )
                for w, r, d in runs
            ],
        )
    )
    print()
    header = ("peak memory (MiB)", *(f"{w.per_side:,}" for w, _, _ in runs), "largest/smallest")
    rows = []
    for name in names:
        peaks = [(r.memory or {}).get(name, 0) for _, r, _ in runs]
        rows.append(
            (
                name,
                *(f"{p / 2**20:,.0f}" for p in peaks),
                f"{peaks[-1] / peaks[0]:.2f}" if peaks[0] else "n/a",
            )
        )
    print(table(header, rows))
    print(
        "\nbudgets lifted in both sandboxes and in datasync; each size on a stack of its own;"
        " memory is the resident set of each process with its children, sampled every"
        f" {MEMORY_EVERY:g} s from start-up until all were in sync"
    )
    save_results(
        "initial_sync_lifted",
        {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "runs": [
                {
                    "records_per_side": w.per_side,
                    "entities": w.entities,
                    "seconds": round(r.seconds, 1),
                    "entities_per_s": round(w.entities / r.seconds),
                    "duplicates_created": d,
                    "peak_memory_mib": {
                        n: round(b / 2**20, 1) for n, b in sorted((r.memory or {}).items())
                    },
                }
                for w, r, d in runs
            ],
        },
    )


def report(
    world: World, result: Run, found: dict[str, Counter[str]], reconcile_interval: float
) -> None:
    least = minimum(world)
    bound = max(m.seconds for m in least.values())
    progress = result.health.get("initial_sync") or {}
    sides = ("hubspot", "dynamics")
    used = {s: sum(result.counters[s]["requests"].values()) for s in sides}
    throttled = {s: int(result.counters[s].get("throttled", 0)) for s in sides}
    duplicates = {s: sum(n - 1 for n in found[s].values() if n > 1) for s in sides}
    totals = {s: sum(found[s].values()) for s in sides}
    kinds = {s: calls_by_kind(s, result.counters[s]["requests"]) for s in sides}
    per_call = batching(result.counters)
    rows = [
        ("API calls used", *(f"{used[s]:,}" for s in sides)),
        (
            "  minimum (reads + creates + updates)",
            *(
                f"{least[s].calls:,} ({least[s].reads}+{least[s].creates}+{least[s].updates})"
                for s in sides
            ),
        ),
        ("  calls / minimum", *(f"{used[s] / least[s].calls:.2f}" for s in sides)),
        (
            "  by kind",
            *(", ".join(f"{k} {n:,}" for k, n in sorted(kinds[s].items())) for s in sides),
        ),
        ("429s answered", *(f"{throttled[s]:,}" for s in sides)),
        (
            "records per write call",
            f"{per_call['hubspot']:.1f} (of {HUBSPOT_BATCH})",
            f"{per_call['dynamics']:.1f} (of {DYNAMICS_BATCH})",
        ),
    ]
    poll = first_poll_calls(result)
    if poll is not None:
        rows += [
            ("first poll after the sync", *(f"{sum(poll[s].values()):,}" for s in sides)),
            (
                "  by kind",
                *(
                    ", ".join(f"{k} {n:,}" for k, n in sorted(calls_by_kind(s, poll[s]).items()))
                    or "none"
                    for s in sides
                ),
            ),
            (
                "  calls with it / minimum",
                *(f"{(used[s] + sum(poll[s].values())) / least[s].calls:.2f}" for s in sides),
            ),
        ]
    rows += [
        ("records afterwards", *(f"{totals[s]:,}" for s in sides)),
        ("duplicates created", *(f"{duplicates[s]:,}" for s in sides)),
        ("time bound of the budget (s)", *(f"{least[s].seconds:.1f}" for s in sides)),
    ]
    print()
    print(table(("", "HubSpot", "Dynamics"), rows))
    print()
    print(
        table(
            ("", "seconds"),
            [
                *(
                    (f"  {phase} ended", f"{_since(progress, phase + '_at'):.1f}")
                    for phase in ("reading", "matching", "publishing")
                ),
                ("all in sync (wall time)", f"{result.seconds:.1f}"),
                ("lower bound", f"{bound:.1f}"),
                ("time / bound", f"{result.seconds / bound:.2f}" if bound else "n/a"),
            ],
        )
    )
    if result.memory:
        print()
        print(
            table(
                ("peak memory", "MiB"),
                [
                    (name, f"{n / 2**20:,.0f}")
                    for name, n in sorted(result.memory.items(), key=lambda kv: -kv[1])
                ],
            )
        )
    print(
        "\nsearch calls are the reconciler's polls (every"
        f" {reconcile_interval:g} s), which read back what the sync wrote since it started;"
        " the first poll after the sync counts the calls from when all were in sync until that"
        " poll was done" + ("" if poll is not None else " (not measured)")
    )
    print(
        f"{world.entities:,} entities in sync: {world.shared:,} matched pairs"
        f" ({world.hubspot_updates():,} updated in HubSpot, {world.app_updates():,} in Dynamics),"
        f" {world.only:,} created on each side; failing {result.health['failing']:,}"
    )
    save_results(
        "writer_batching",
        {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "during": f"the initial sync of {world.per_side:,} contacts per side",
            "hubspot_records_per_write_call": round(per_call["hubspot"], 2),
            "hubspot_write_calls": result.counters["hubspot"]["writes"],
            "hubspot_batch_limit": HUBSPOT_BATCH,
            "dynamics_operations_per_batch": round(per_call["dynamics"], 2),
            "dynamics_batch_limit": DYNAMICS_BATCH,
            "throttled": throttled,
        },
    )
    save_results(
        "initial_sync",
        {
            "peak_memory_mib": {
                n: round(b / 2**20, 1) for n, b in sorted((result.memory or {}).items())
            },
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "records_per_side": world.per_side,
            "shared": world.shared,
            "both_ways": world.both_ways,
            "reconcile_interval_seconds": reconcile_interval,
            "seconds": round(result.seconds, 1),
            "bound_seconds": round(bound, 1),
            "time_over_bound": round(result.seconds / bound, 3) if bound else None,
            "phases_ended_seconds": {
                phase: round(_since(progress, phase + "_at"), 1)
                for phase in ("reading", "matching", "publishing")
            },
            **{
                side: {
                    "calls": used[side],
                    "minimum": least[side].calls,
                    "calls_over_minimum": round(used[side] / least[side].calls, 3),
                    "by_kind": dict(kinds[side]),
                    "requests": result.counters[side]["requests"],
                    "throttled": throttled[side],
                    "records_afterwards": totals[side],
                    "duplicates_created": duplicates[side],
                    **(
                        {
                            "first_poll_calls": sum(poll[side].values()),
                            "first_poll_by_kind": dict(calls_by_kind(side, poll[side])),
                            "calls_with_first_poll_over_minimum": round(
                                (used[side] + sum(poll[side].values())) / least[side].calls, 3
                            ),
                        }
                        if poll is not None
                        else {}
                    ),
                }
                for side in sides
            },
        },
    )


def batching(found: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Records per HubSpot write call and operations per Dataverse `$batch`: how full the
    writers fill the batch APIs during the backlog of an initial sync."""
    hubspot, dynamics = found["hubspot"], found["dynamics"]
    batches = dynamics["requests"].get("POST $batch", 0)
    return {
        "hubspot": hubspot["records_written"] / hubspot["writes"] if hubspot["writes"] else 0.0,
        "dynamics": dynamics.get("batched_operations", 0) / batches if batches else 0.0,
    }


def first_poll_calls(result: Run) -> dict[str, Counter[str]] | None:
    """Calls per route from when every entity was in sync until the first poll was done."""
    if result.after_poll is None:
        return None
    return {
        side: Counter(result.after_poll[side]["requests"])
        - Counter(result.counters[side]["requests"])
        for side in ("hubspot", "dynamics")
    }


def _since(progress: dict[str, Any], key: str) -> float:
    if key not in progress or "started_at" not in progress:
        return float("nan")
    return (
        datetime.fromisoformat(progress[key]) - datetime.fromisoformat(progress["started_at"])
    ).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--records", type=int, default=100_000, help="contacts per side")
    size.add_argument("--quick", action="store_true", help="10,000 contacts per side")
    parser.add_argument(
        "--both-ways",
        action="store_true",
        help="a quarter of the pairs differ both ways, so both writers update the same links",
    )
    parser.add_argument(
        "--reconcile-interval",
        type=float,
        metavar="SECONDS",
        help="how often the reconciler polls (default: the service's own default)",
    )
    parser.add_argument(
        "--no-first-poll",
        action="store_true",
        help="stop once every entity is in sync, without waiting for the reconciler's first poll",
    )
    parser.add_argument(
        "--log", type=Path, metavar="FILE", help="append every service's output to FILE"
    )
    parser.add_argument(
        "--lifted",
        metavar="SIZES",
        help="contacts per side, comma separated (e.g. 100000,1000000): one sync per size with"
        " every request budget lifted, for the rate and the peak memory as the count grows",
    )
    args = parser.parse_args()
    per_side = 10_000 if args.quick else args.records
    try:
        if args.lifted:
            sizes = [int(n.replace("_", "")) for n in args.lifted.split(",")]
            asyncio.run(run_lifted(sizes, args.log))
            return
        asyncio.run(
            run(
                World(per_side, per_side // 2, args.both_ways),
                args.reconcile_interval,
                args.log,
                not args.no_first_poll,
            )
        )
    except BenchError as exc:
        sys.exit(f"benchmark failed: {exc}")


if __name__ == "__main__":
    main()
