"""Change-to-write latency: people's changes in both sandboxes at fixed rates, each timed from
when it was due to when datasync's write of it landed on the other side.

The whole stack (`services.devstack.stack.Stack`: embedded broker and PostgreSQL, every service,
both sandboxes) starts on free ports. Both sandboxes are seeded with the same P contacts, and a
two-way contacts sync (HubSpot wins conflicts) is set up through the control API and started;
the load begins once health counts all P pairs in sync. Then, for each rate of the sweep, an
open-loop load (`_load.open_loop`) makes rate x seconds changes as a person in the apps' UIs
would (`X-Sandbox-Actor: user`, so the apps' webhooks fire): a quarter creates, three quarters
updates of the seeded pairs, a tenth of those on both sides at once (a conflict: it has landed
once HubSpot's value reached Dynamics), half of the rest in each direction. Each change is due
at `start + i / rate` and sent then in its own task, whatever became of the earlier ones, and
its latency counts from when it was due: a generator or a sandbox that falls behind adds to
the latency instead of hiding the queue. After the load the step waits for stragglers (until
all landed, or none for `QUIET` s); a change that never landed is missing and counts as
infinitely slow in the percentiles (so with more than 1 % missing, p99 is infinite).

When a write landed: the audit trail's `at`. The writer stores a batch's outcomes, one audit row
per field written, in a transaction it opens once the target's API has answered; `at` is that
transaction's `now()`, in microseconds, on the clock the due times are read from (one machine).
Every change writes a value used nowhere else, so the row (target, field, new value) names
its change. The rows are read from the state store as they come, and once more for the missing
at the end of each step: the audit API answers only the newest 1,000 rows, fewer than a step
writes between two looks. Other stamps are worse: Dataverse's `modifiedon` has whole seconds,
and polling the target sandbox for hundreds of records a second would load the machine the
stack runs on and add up to a polling interval of error. The audit stamp is late, never early,
by the target's answer and the writer's lookup of the batch's links; each step compares it with
HubSpot's own `updatedAt` (milliseconds) for a sample of writes into HubSpot.

Where the time went: each change's legs, from when it was due to when its request got one of
the generator's connections (queued behind changes the app had not answered yet), to when
ingest published its event (sandbox, webhook, ingest), to when the processor published its
write command, to the audit stamp (writer); the middle stamps are the Kafka records' own,
set by their producers in milliseconds.

Budgets: HubSpot's stays at its default, 100 requests per rolling 10 s for datasync's token (a
Starter account's, and what datasync holds itself to in each process); people's edits do not
count in HubSpot. Dynamics keeps 6,000 requests per 300 s for datasync, but its sandbox counts
every request of an organisation where Dataverse counts per user, so the organisation's budget
is raised by the edits the sweep makes there. `--lift-limits` lifts HubSpot's too.

The sweep stops early once a step saturates: changes missing, or the apps so far behind that
the generator stopped sending (`BEHIND_LIMIT`). The machine has 2 cores that the stack, the
generator and whatever else runs share: each step reports the load average, how busy the CPUs
were, and the cores each process used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _common import (
    BenchError,
    Tail,
    TopicReader,
    connect_contacts_sync,
    save_results,
    say,
    table,
)
from _load import (
    DYNAMICS_SHARE,
    ORG,
    Change,
    Kind,
    Landing,
    Machine,
    Plan,
    Sandboxes,
    Stopwatch,
    as_app,
    open_loop,
    pair_person,
)

from schemas import topics
from schemas.events import Side
from services.config import KafkaSettings, SandboxSettings, StackSettings
from services.devstack.stack import Stack
from services.devstack.supervisor import ChildDied, free_ports
from services.reconciler.first_poll import CLOCK_SKEW

RATES = (50.0, 100.0, 200.0, 500.0)
QUICK_RATES, QUICK_SECONDS = (50.0, 200.0), 15.0
PAIRS, QUICK_PAIRS = 6000, 2000
FLAT_FACTOR = 1.5  # a p99 within this of the lowest rate's is flat
SEED_CHUNK = 5000
IN_SYNC_LIMIT = 300.0  # seconds the initial sync may take
POLL = 0.5  # seconds between looks at the audit trail
LOOKBACK = 500  # audit ids looked at again: a transaction may commit after a later one
QUIET = 8.0  # seconds without a landing after which a step stops waiting for stragglers
DRAIN_LIMIT = 30.0  # seconds a step waits for stragglers at most
BEHIND_LIMIT = 10.0  # seconds a change may wait for an app's answer before the load stops
SATURATED = 0.01  # a step that leaves more than this share missing ends the sweep
DYNAMICS_BUDGET, DYNAMICS_WINDOW = 6000, 300  # datasync's requests per window in Dynamics
PEOPLE_ROUTES = {"PATCH contacts", "POST contacts"}  # what the load sends Dynamics
LIFTED = 1_000_000
AT_ONCE = 0.2  # seconds apart two edits of a conflict may be answered and still be at once
LEGS = ("queued to send", "sandbox, webhook, ingest", "processor", "writer")
SIDES = ("hubspot", "dynamics")


# Setting up the sync -------------------------------------------------------------------------


async def seed(stack: Stack, pairs: int) -> dict[str, list[str]]:
    """The same `pairs` contacts on both sides; their ids per side, in pair order."""
    ids: dict[str, list[str]] = {"hubspot": [], "app": []}
    async with httpx.AsyncClient(timeout=300, trust_env=False) as http:
        for start in range(0, pairs, SEED_CHUNK):
            people = [pair_person(j) for j in range(start, min(start + SEED_CHUNK, pairs))]
            hubspot, dynamics = await asyncio.gather(
                http.post(f"{stack.hubspot_url}/_sandbox/seed", json={"contacts": people}),
                http.post(
                    f"{stack.dynamics_url}/_sandbox/orgs/{ORG}/seed",
                    json={"contacts": [as_app(p) for p in people]},
                ),
            )
            hubspot.raise_for_status()
            dynamics.raise_for_status()
            ids["hubspot"] += hubspot.json()["contacts"]
            ids["app"] += dynamics.json()["contacts"]
    return ids


async def set_limits(stack: Stack, dynamics_edits: int, lift: bool) -> None:
    budget = {
        "requests_per_window": DYNAMICS_BUDGET + dynamics_edits,
        "window_seconds": DYNAMICS_WINDOW,
    }
    async with httpx.AsyncClient(trust_env=False) as http:
        (await http.put(f"{stack.dynamics_url}/_sandbox/limits", json=budget)).raise_for_status()
        if lift:
            limits = {"ten_second_budget": LIFTED, "search_per_second": LIFTED}
            response = await http.put(f"{stack.hubspot_url}/_sandbox/limits", json=limits)
            response.raise_for_status()


async def wait_in_sync(stack: Stack, api: httpx.AsyncClient, cid: str, pairs: int) -> float:
    started = time.monotonic()
    while True:
        stack.check()
        health = (await api.get(f"/v1/connections/{cid}/health")).json()["objects"]["contacts"]
        if health["in_sync"] >= pairs:
            return time.monotonic() - started
        if time.monotonic() - started > IN_SYNC_LIMIT:
            raise BenchError(f"the initial sync did not finish in {IN_SYNC_LIMIT:.0f} s: {health}")
        await asyncio.sleep(0.5)


# Following the changes -----------------------------------------------------------------------


class Landings:
    """The audit trail of the connection's contacts, followed as it grows: each row that
    carries a change's value stamps the change as landed (the earliest such row wins)."""

    FIELDS = ("firstname", "email", "emailaddress1")
    QUERY = (
        "SELECT id, target, field, new_value #>> '{}' AS value,"
        " extract(epoch FROM at)::float8 AS at FROM audit"
        " WHERE connection_id = $1 AND object_type = 'contacts' AND field = ANY($2::text[])"
    )

    def __init__(self, dsn: str, cid: str) -> None:
        self.dsn = dsn
        self.cid = cid
        self.expected: dict[Landing, Change] = {}
        self.losers: dict[Landing, Change] = {}
        self.cursor = 0
        self.pool: asyncpg.Pool | None = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Landings:
        self.pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=2)
        self.task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.pool is not None:
            await self.pool.close()

    def expect(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self.expected[change.landing] = change
            if change.loser is not None:
                self.losers[change.loser] = change

    async def _follow(self) -> None:
        assert self.pool is not None
        while True:
            rows = await self.pool.fetch(
                f"{self.QUERY} AND id > $3 ORDER BY id",
                self.cid,
                list(self.FIELDS),
                self.cursor - LOOKBACK,
            )
            self._apply(rows)
            if rows:
                self.cursor = max(self.cursor, rows[-1]["id"])
            await asyncio.sleep(POLL)

    async def settle(self, changes: Sequence[Change]) -> None:
        """Look once more for the changes not seen landing: a transaction may have committed
        after one holding later ids, more than `LOOKBACK` ids ago."""
        assert self.pool is not None
        keys = [c.landing for c in changes if c.made and c.landed is None]
        keys += [c.loser for c in changes if c.loser is not None and not c.loser_landed]
        if keys:
            rows = await self.pool.fetch(
                f"{self.QUERY} AND new_value #>> '{{}}' = ANY($3::text[])",
                self.cid,
                list(self.FIELDS),
                [value for _, _, value in keys],
            )
            self._apply(rows)

    def _apply(self, rows: Sequence[asyncpg.Record]) -> None:
        for row in rows:
            key = (row["target"], row["field"], row["value"])
            if (change := self.expected.get(key)) is not None:
                change.landed = min(change.landed or row["at"], row["at"])
            if (loser := self.losers.get(key)) is not None:
                loser.loser_landed = True


class Stages:
    """When ingest published each change's event and the processor its write command: the
    Kafka records' timestamps."""

    CHANGES = topics.changes("contacts")
    WRITES = (topics.writes("contacts", Side.APP), topics.writes("contacts", Side.HUBSPOT))
    READ_LIMIT = 20.0  # seconds spent reading the topics after a step at most

    def __init__(self, stack: Stack) -> None:
        kafka = KafkaSettings(kafka_bootstrap=stack.kafka_bootstrap, kafka_idempotence=False)
        self.reader = TopicReader(kafka, [self.CHANGES, *self.WRITES])
        self.origins: Counter[str] = Counter()  # change events read, by where they came from

    async def __aenter__(self) -> Stages:
        await self.reader.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.reader.__aexit__(*exc)

    async def stamp(self, changes: Sequence[Change]) -> Counter[str]:
        """Read what the topics gained since the last step and stamp the changes it carries;
        returns the change events read, by origin (webhook, reconciler, ...)."""
        self.origins = Counter()
        sources = {c.source: c for c in changes if c.made}
        landings = {c.landing: c for c in changes if c.made}
        deadline = time.monotonic() + self.READ_LIMIT
        while time.monotonic() < deadline:
            records = await self.reader.poll(0.5)
            if not records:
                break
            for record in records:
                at = record.timestamp / 1000
                message = json.loads(record.value or b"{}")
                properties = (message.get("properties") or {}).items()
                if record.topic == self.CHANGES:
                    self.origins[message.get("origin", "webhook")] += 1
                    side = message["side"]
                    keys = [(side, message["record_id"])]
                    keys += [(side, str(v)) for k, v in properties if k in Landings.FIELDS]
                    for key in keys:
                        if (change := sources.get(key)) is not None:
                            change.ingested = min(change.ingested or at, at)
                else:
                    for name, v in properties:
                        landing = (message["target"], name, str(v))
                        if (change := landings.get(landing)) is not None:
                            change.commanded = min(change.commanded or at, at)
        return self.origins


async def drain(landings: Landings, changes: Sequence[Change], stack: Stack) -> float:
    """Wait until every change made has landed, or none has for `QUIET` seconds, or
    `DRAIN_LIMIT` seconds have passed; returns the seconds waited. Where nothing lands for a
    moment, the changes still awaited are looked up, in case they landed unseen."""
    started = moved = time.monotonic()
    made = sum(1 for c in changes if c.made)
    seen, looked = -1, False
    while True:
        stack.check()
        landed = sum(1 for c in changes if c.landed is not None)
        now = time.monotonic()
        if landed >= made or now - moved > QUIET or now - started > DRAIN_LIMIT:
            return now - started
        if landed != seen:
            seen, moved, looked = landed, now, False
        elif not looked and now - moved > 4 * POLL:
            await landings.settle(changes)
            looked = True
            continue
        await asyncio.sleep(POLL)


# One step of the sweep -----------------------------------------------------------------------


@dataclass
class Step:
    rate: float
    seconds: float  # how long the load took to send
    changes: list[Change]
    machine: Machine
    calls: Calls  # datasync's API calls while the load ran
    throttled: dict[str, int]  # 429s per side, the stragglers' wait included
    audit_lag: list[float]  # seconds the audit stamp is later than HubSpot's, for a sample
    conflicts_lost: int  # conflicts made at once whose HubSpot record ended with the loser
    events: dict[str, int]  # change events published during the step, by origin

    @property
    def made(self) -> list[Change]:
        return [c for c in self.changes if c.made]

    @property
    def missing(self) -> int:
        return sum(1 for c in self.made if c.landed is None)

    @property
    def at_once(self) -> int:
        """Conflicts whose two edits were made at once."""
        return sum(1 for c in self.made if c.kind is Kind.BOTH_UPDATE and c.spread < AT_ONCE)

    @property
    def unsent(self) -> int:
        return sum(1 for c in self.changes if c.unsent)

    @property
    def saturated(self) -> bool:
        return self.unsent > 0 or self.missing > SATURATED * len(self.made)

    def answers(self) -> list[float]:
        """Seconds each app took to answer a request of the load."""
        return sorted(t - c.sent for c in self.made for t in c.answered.values())

    def latencies(self, kind: Kind | None = None) -> list[float]:
        return sorted(c.latency for c in self.made if kind is None or c.kind is kind)

    def legs(self, side: str | None = None) -> dict[str, list[float]]:
        """Seconds each change (made on `side`, or any) spent on each leg, of the changes
        seen on every leg."""
        legs: dict[str, list[float]] = {name: [] for name in LEGS}
        for c in self.made:
            if c.ingested is None or c.commanded is None or c.landed is None:
                continue
            if side is not None and c.source[0] != side:
                continue
            stamps = (c.intended, c.sent, c.ingested, c.commanded, c.landed)
            for name, start, end in zip(LEGS, stamps, stamps[1:], strict=False):
                legs[name].append(end - start)
        return {name: sorted(values) for name, values in legs.items()}


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value that `q` of the values are at most."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Calls:
    """What datasync asked of the apps so far: requests by route, and 429s, per side."""

    routes: dict[str, Counter[str]]
    throttled: dict[str, int]

    def __sub__(self, earlier: Calls) -> Calls:
        return Calls(
            {s: self.routes[s] - earlier.routes[s] for s in SIDES},
            {s: self.throttled[s] - earlier.throttled[s] for s in SIDES},
        )

    def total(self, side: str) -> int:
        return self.routes[side].total()


async def datasync_calls(stack: Stack) -> Calls:
    """HubSpot does not count a person's requests; in Dynamics they are the load's routes."""
    async with httpx.AsyncClient(trust_env=False) as http:
        hubspot = (await http.get(f"{stack.hubspot_url}/_sandbox/counters")).json()
        dynamics = (
            await http.get(f"{stack.dynamics_url}/_sandbox/counters", params={"org": ORG})
        ).json()
    people = Counter({r: n for r, n in dynamics["requests"].items() if r in PEOPLE_ROUTES})
    return Calls(
        {
            "hubspot": Counter(hubspot["requests"]),
            "dynamics": Counter(dynamics["requests"]) - people,
        },
        {"hubspot": hubspot["throttled"], "dynamics": dynamics["throttled"]},
    )


async def check_in_hubspot(
    sandboxes: Sandboxes, changes: Sequence[Change]
) -> tuple[list[float], int]:
    """What HubSpot holds after the step, for the last edit of each pair: the audit stamp
    minus HubSpot's own stamp of the write, in seconds, for updates made in Dynamics; and how
    many conflicts made at once (both edits answered within `AT_ONCE`) ended with Dynamics'
    losing value in HubSpot."""
    last = {c.pair: c for c in changes if c.made and c.pair is not None}
    found = await sandboxes.hubspot_names(list(last))
    lags, lost = [], 0
    for pair, (name, stamp) in found.items():
        change = last[pair]
        if change.kind is Kind.APP_UPDATE and change.landed is not None and name == change.value:
            lags.append(change.landed - stamp)
        if change.kind is Kind.BOTH_UPDATE and change.spread < AT_ONCE:
            lost += name == change.app_value
    return sorted(lags), lost


async def run_step(
    stack: Stack,
    sandboxes: Sandboxes,
    landings: Landings,
    stages: Stages,
    changes: list[Change],
    rate: float,
) -> Step:
    landings.expect(changes)
    before = await datasync_calls(stack)
    watch = Stopwatch(stack)
    await open_loop(changes, rate, sandboxes.make, BEHIND_LIMIT)
    machine = watch.read()
    sent = time.monotonic() - watch.started
    during = await datasync_calls(stack) - before
    await drain(landings, changes, stack)
    await landings.settle(changes)
    after = await datasync_calls(stack) - before
    origins = await stages.stamp(changes)
    lags, lost = await check_in_hubspot(sandboxes, changes)
    return Step(
        rate,
        sent,
        changes,
        machine,
        during,
        after.throttled,
        lags,
        lost,
        dict(origins),
    )


# The sweep -----------------------------------------------------------------------------------


async def run(
    rates: Sequence[float],
    seconds: float,
    pairs: int,
    lift: bool,
    env: dict[str, str],
    log: Path | None,
) -> list[Step]:
    data_dir = Path(tempfile.mkdtemp(prefix="datasync-bench-latency-"))
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
    tokens = SandboxSettings()
    steps: list[Step] = []
    try:
        started = time.monotonic()
        async with Stack(settings, output=tail, extra_env=env, durable_database=False) as stack:
            say(f"stack up in {time.monotonic() - started:.1f} s")
            await set_limits(stack, math.ceil(sum(rates) * seconds * DYNAMICS_SHARE), lift)
            ids = await seed(stack, pairs)
            # The first poll after the initial sync reads from its start less the skew: keep
            # the seeding out of it, as an account's records were not all just written.
            await asyncio.sleep(CLOCK_SKEW.total_seconds() + 2)
            headers = {"Authorization": f"Bearer {stack.admin_token}"}
            async with httpx.AsyncClient(
                base_url=stack.api_url, headers=headers, timeout=60, trust_env=False
            ) as api:
                cid = await connect_contacts_sync(stack, api, ORG)
                start = f"/v1/connections/{cid}/syncs/contacts/start"
                (await api.post(start)).raise_for_status()
                took = await wait_in_sync(stack, api, cid, pairs)
            say(f"initial sync of {pairs:,} pairs done in {took:.1f} s")
            plan = Plan(pairs)
            async with (
                Sandboxes(
                    stack, tokens.sandbox_hubspot_token, tokens.sandbox_dynamics_token, ids
                ) as sandboxes,
                Landings(stack.database_url, cid) as landings,
                Stages(stack) as stages,
            ):
                for index, rate in enumerate(rates):
                    say(f"{rate:g} changes/s for {seconds:g} s")
                    changes = plan.changes(index, round(rate * seconds))
                    step = await run_step(stack, sandboxes, landings, stages, changes, rate)
                    steps.append(step)
                    say(summary(step))
                    if step.saturated and rate != rates[-1]:
                        say(f"saturated at {rate:g} changes/s: the higher rates are skipped")
                        break
    except Exception:
        if tail.lines:
            print(f"last output of the stack:\n{tail}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return steps


# Reporting -----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return "inf" if math.isinf(seconds) else f"{seconds * 1000:,.0f}"


def _p50_p99(values: Sequence[float]) -> str:
    return f"{_ms(percentile(values, 0.5))} / {_ms(percentile(values, 0.99))}"


def summary(step: Step) -> str:
    lat = step.latencies()
    refused = Counter(c.failed for c in step.changes if c.failed is not None)
    return (
        f"  made {len(step.made):,}, landed {len(step.made) - step.missing:,},"
        f" missing {step.missing:,}"
        + (f", unsent {step.unsent:,} (the apps fell behind)" if step.unsent else "")
        + (f", refused {refused.total():,}: {refused.most_common(1)[0][0]}" if refused else "")
        + f"; p50 {_ms(percentile(lat, 0.5))} ms, p99 {_ms(percentile(lat, 0.99))} ms;"
        f" CPUs {100 * step.machine.busy:.0f}% busy, load {step.machine.load[0]:.2f}"
    )


def flat_rate(steps: Sequence[Step]) -> Step | None:
    """The highest rate up to which p99 stays within `FLAT_FACTOR` of the lowest rate's and
    the step did not saturate; None if even the lowest rate saturated."""
    base = percentile(steps[0].latencies(), 0.99)
    best = None
    for step in steps:
        if step.saturated or percentile(step.latencies(), 0.99) > FLAT_FACTOR * base:
            break
        best = step
    return best


def report(
    steps: Sequence[Step], rates: Sequence[float], pairs: int, lift: bool, env: dict[str, str]
) -> None:
    print()
    rows = []
    for step in steps:
        lat = step.latencies()
        rows.append(
            (
                f"{step.rate:g}",
                f"{len(step.changes):,}",
                f"{len(step.made):,}",
                f"{len(step.made) - step.missing:,}",
                f"{step.missing:,}",
                *(_ms(percentile(lat, q)) for q in (0.5, 0.95, 0.99)),
                _ms(lat[-1] if lat else float("nan")),
                f"{step.unsent:,}",
                _ms(percentile(step.answers(), 0.99)),
                _p50_p99(step.audit_lag),
                *(f"{10 * step.calls.total(s) / step.seconds:.0f}" for s in SIDES),
                "/".join(str(step.throttled[s]) for s in SIDES),
                f"{100 * step.machine.busy:.0f}%",
                f"{step.machine.load[0]:.2f}",
            )
        )
    header = (
        *("changes/s", "due", "made", "landed", "missing", "p50 ms", "p95 ms", "p99 ms"),
        *("max ms", "unsent", "app answer p99", "audit lag", "HS calls/10s", "D365 calls/10s"),
        *("429s HS/D365", "CPU busy", "load 1m"),
    )
    rows += [(f"{r:g}", "skipped", *[""] * (len(header) - 2)) for r in rates[len(steps) :]]
    print(table(header, rows))
    print("\nby kind of change, p50 / p99 ms (conflicts: HubSpot's value reaching Dynamics):")
    print(
        table(
            ("changes/s", *(k.value for k in Kind), "losers written", "at once, HubSpot lost"),
            [
                (
                    f"{step.rate:g}",
                    *(_p50_p99(step.latencies(k)) for k in Kind),
                    f"{sum(1 for c in step.changes if c.loser_landed)}",
                    f"{step.conflicts_lost} of {step.at_once}",
                )
                for step in steps
            ],
        )
    )
    print("\nwhere the time went, p50 / p99 ms of each leg (of the changes seen on all):")
    rows = []
    for step in steps:
        origins = ", ".join(f"{o} {n:,}" for o, n in sorted(step.events.items()))
        for side, name in (("hubspot", "HubSpot"), ("app", "Dynamics")):
            legs = step.legs(side)
            rows.append(
                (
                    f"{step.rate:g}",
                    f"{name}",
                    *(_p50_p99(legs[n]) for n in LEGS),
                    f"{len(legs[LEGS[0]]):,}",
                    origins if side == "hubspot" else "",
                )
            )
    print(table(("changes/s", "made in", *LEGS, "seen", "change events by origin"), rows))
    print("\ncores each process used while the load ran:")
    last = steps[-1].machine.cores
    names = sorted({n for s in steps for n in s.machine.cores}, key=lambda n: last.get(n, 0.0))
    print(
        table(
            ("process", *(f"{s.rate:g}/s" for s in steps)),
            [(n, *(f"{s.machine.cores.get(n, 0):.2f}" for s in steps)) for n in reversed(names)],
        )
    )
    print("\nHubSpot calls per 10 s while the load ran, by route (the budget is 100):")
    for step in steps:
        routes = step.calls.routes["hubspot"].most_common()
        print(
            f"  {step.rate:g}/s: "
            + ", ".join(f"{r.split(' ', 1)[1]} {10 * n / step.seconds:.1f}" for r, n in routes)
        )
    print(
        "\naudit lag: the audit stamp minus HubSpot's own stamp of the write (p50 / p99 ms),"
        " for the last update made in Dynamics of each pair"
    )
    best = flat_rate(steps)
    base = percentile(steps[0].latencies(), 0.99)
    print(
        f"highest rate with p99 flat (within {FLAT_FACTOR:g}x of {_ms(base)} ms at"
        f" {steps[0].rate:g}/s, not saturated): " + (f"{best.rate:g} changes/s" if best else "none")
    )
    print(
        f"{pairs:,} seeded pairs in a two-way contacts sync, HubSpot wins conflicts; a change is"
        " one record changed (an update on both sides counts once); latency from when it was"
        f" due to the audit stamp of its write; {os.cpu_count()} CPUs"
        + (f"; services' environment: {env}" if env else "")
    )
    print(
        "budgets: HubSpot "
        + ("lifted" if lift else "at its default, 100 requests per rolling 10 s")
        + "; Dynamics 6,000 per 300 s for datasync (raised by the people's edits, which its"
        " sandbox counts per organisation); datasync holds itself to the defaults in each process"
    )
    save_results(
        "latency",
        {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "pairs": pairs,
            "hubspot_limits": "lifted" if lift else "default",
            "services_env": env,
            "flat_factor": FLAT_FACTOR,
            "highest_flat_rate": best.rate if best else None,
            "skipped_rates": list(rates[len(steps) :]),
            "steps": [_figures(s) for s in steps],
        },
    )


def _figures(step: Step) -> dict[str, Any]:
    def ms(values: Sequence[float], q: float) -> float | None:
        x = percentile(values, q)
        return None if math.isinf(x) or math.isnan(x) else round(1000 * x, 1)

    lat = step.latencies()
    return {
        "rate": step.rate,
        "seconds": round(step.seconds, 1),
        "due": len(step.changes),
        "unsent": step.unsent,
        "refused": sum(1 for c in step.changes if c.failed is not None),
        "made": len(step.made),
        "missing": step.missing,
        **{f"p{round(100 * q)}_ms": ms(lat, q) for q in (0.5, 0.95, 0.99)},
        "max_ms": ms(lat, 1.0),
        "by_kind": {
            k.name.lower(): {"p50_ms": ms(kl, 0.5), "p99_ms": ms(kl, 0.99), "n": len(kl)}
            for k in Kind
            if (kl := step.latencies(k))
        },
        "legs": {
            side: {n: {"p50_ms": ms(v, 0.5), "p99_ms": ms(v, 0.99)} for n, v in legs.items()}
            for side in ("hubspot", "app")
            if (legs := step.legs(side))
        },
        "conflict_losers_written": sum(1 for c in step.changes if c.loser_landed),
        "conflicts_at_once": step.at_once,
        "conflicts_at_once_lost_in_hubspot": step.conflicts_lost,
        "datasync_calls": {s: dict(step.calls.routes[s]) for s in SIDES},
        "throttled": step.throttled,
        "app_answer_p99_ms": ms(step.answers(), 0.99),
        "audit_lag_ms": {
            "p50": ms(step.audit_lag, 0.5),
            "p99": ms(step.audit_lag, 0.99),
            "n": len(step.audit_lag),
        },
        "events_by_origin": step.events,
        "cpu_busy": round(step.machine.busy, 3),
        "loadavg": [round(x, 2) for x in step.machine.load],
        "cores_by_process": {n: round(c, 3) for n, c in step.machine.cores.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        type=lambda text: sorted(float(r) for r in text.split(",")),
        default=list(RATES),
        help="changes per second of each step (default: 50,100,200,500)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each step")
    parser.add_argument("--pairs", type=int, default=PAIRS, help="contacts seeded on both sides")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"rates 50,200 for {QUICK_SECONDS:g} s each, {QUICK_PAIRS:,} pairs",
    )
    parser.add_argument("--lift-limits", action="store_true", help="lift HubSpot's budgets")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every service (e.g. DATASYNC_WRITER_BATCH_MAX_WAIT=0.2); repeatable",
    )
    parser.add_argument(
        "--log", type=Path, metavar="FILE", help="append every service's output to FILE"
    )
    args = parser.parse_args()
    rates = list(QUICK_RATES) if args.quick else args.rates
    seconds = QUICK_SECONDS if args.quick else args.seconds
    pairs = QUICK_PAIRS if args.quick else args.pairs
    env = dict(item.split("=", 1) for item in args.env)
    say(
        f"latency: {', '.join(f'{r:g}' for r in rates)} changes/s, {seconds:g} s each,"
        f" {pairs:,} pairs, HubSpot budget {'lifted' if args.lift_limits else 'default'};"
        f" load average {os.getloadavg()[0]:.2f} before starting"
    )
    try:
        steps = asyncio.run(run(rates, seconds, pairs, args.lift_limits, env, args.log))
    except (BenchError, ChildDied) as exc:
        sys.exit(f"benchmark failed: {exc}")
    except KeyboardInterrupt:
        sys.exit("interrupted; the stack is stopped")
    report(steps, rates, pairs, args.lift_limits, env)


if __name__ == "__main__":
    main()
