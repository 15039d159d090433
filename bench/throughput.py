"""Throughput of the processor against the raw Kafka plumbing, and as it scales out, in one run.

raw        one process: consume (getmany, a processor batch at a time), json.loads, json.dumps,
           produce (send futures, acks=all), wait for the batch's acks, fetch the next batch.
two-way    the real `datasync processor --object contacts` as a subprocess, on complete HubSpot
           changes of linked, synced contacts whose firstname changed, in the default two-way
           sync: per batch it does its real store lookups, reads the contacts' app side from
           the Dynamics 365 sandbox (a record changed since its snapshot may conflict with a
           change on the other side), and emits one update command per event.
one-way    the same with the sync's direction `to_app`: the app never writes back into HubSpot.
scaling    the two-way workload on 1, 2 and 4 processor processes in one consumer group.

The Dynamics sandbox runs as a subprocess, its request budget lifted, seeded with the app side
of every linked contact (the links point at the ids it gave them). HubSpot stays unreachable:
a HubSpot change whose counterpart is in the app needs no HubSpot call, and one made anyway
stalls the run with the processor's errors. Every event must lead to exactly one command, the
update of its record's firstname in the app. The sandbox counts the Dynamics requests.

Every processor measurement drains the same N events on a fresh broker whose topics have 8
partitions (so that 4 processes get 2 each), right after the raw rate is measured there on the
same N events: on a shared machine the load changes from one minute to the next. The processes
start first and the benchmark waits until their consumer group is stable with all of them (a
rebalance mid-run would move partitions and repeat events), then publishes the N events. The
clock runs from the start of publishing to the last command (the commands' produce
timestamps): the first command only marks the end of a first batch, and with k processes k
first batches would run before such a clock starts. Publishing is several times faster than
the processor, so it hardly holds the processor back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (
    APP_ENTITY_SET,
    BenchError,
    CpuClock,
    Profiler,
    Rate,
    Stack,
    TopicReader,
    app_contact,
    check_alive,
    contact_changes,
    embedded_broker,
    embedded_database,
    profile_summary,
    publish,
    save_results,
    say,
    seed_contacts_sync,
    set_direction,
    stack_of,
    stopped_by_sigterm,
    table,
    wait_for_group,
)
from _sandboxes import DynamicsSandbox
from aiokafka.structs import ConsumerRecord

from schemas import topics
from schemas.commands import WriteCommand, WriteOp
from schemas.events import ChangeEvent, Side
from schemas.settings import Direction
from services import bus
from services.config import ProcessorSettings
from services.devstack.database import EmbeddedPostgres
from services.devstack.supervisor import ChildDied, ChildProcess

RAW_IN, RAW_OUT = "bench.raw.in", "bench.raw.out"
CHANGES = topics.changes("contacts")
WRITES_APP = topics.writes("contacts", Side.APP)
WRITES_HUBSPOT = topics.writes("contacts", Side.HUBSPOT)
PROCESSOR_GROUP = "datasync-processor"  # the Faust app's id (services/processor/app.py)
PARTITIONS = 8
SCALE_OUT = (1, 2, 4)
ORG = "bench"
# The sandbox's budget is Dataverse's 6,000 requests per 5 minutes; the benchmark measures the
# processor, not the budget: requests per second, as good as none.
UNLIMITED_REQUESTS, PER_SECOND = 1_000_000_000, 1.0
STARTUP_LIMIT = 120.0  # seconds for the processors to start and join their group
STALL_LIMIT = 30.0  # seconds without a new command before the run is declared stuck
CROWDED = 0.25  # share of the CPUs other processes took that makes a measurement suspect

Messages = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Workload:
    name: str
    direction: Direction


TWO_WAY = Workload("two-way", Direction.TWO_WAY)
ONE_WAY = Workload("one-way", Direction.TO_APP)
WORKLOADS = {w.name: w for w in (TWO_WAY, ONE_WAY)}


@dataclass(frozen=True)
class World:
    """What every measurement starts from: the events, and the app records they concern."""

    events: list[ChangeEvent]
    messages: Messages
    batch_size: int
    app_ids: list[str]
    database: EmbeddedPostgres
    sandbox: DynamicsSandbox


@dataclass(frozen=True)
class Measured:
    """One processor measurement: its rate and the raw rate next to it, what it cost the
    sandbox and the CPUs."""

    raw: Rate
    rate: Rate
    startup: float  # seconds from launching the processes to their group being stable
    first_command: float  # seconds from the start of publishing to the first command
    publishing: float  # seconds publishing the N events took
    cpu: dict[str, float]  # CPU seconds per group of processes over the measurement
    cpu_wall: float  # the seconds those were measured over
    dynamics: dict[str, Any] = field(default_factory=dict)  # the sandbox's counters over it

    @property
    def requests(self) -> str:
        calls = sum(self.dynamics["requests"].values())
        return f"{calls:,} ({self.dynamics['batched_operations']:,} ops)"


# Measurements -----------------------------------------------------------------------------------


async def raw_rate(stack: Stack, world: World) -> Rate:
    kafka = stack.kafka
    await bus.ensure_topics(kafka, [RAW_IN, RAW_OUT])
    await publish(kafka, RAW_IN, world.messages)
    producer = bus.producer(kafka)
    await producer.start()
    try:
        async with TopicReader(kafka, [RAW_IN]) as reader, asyncio.timeout(STARTUP_LIMIT):
            done, started = 0, 0.0
            while done < len(world.messages):
                batches = await reader.consumer.getmany(
                    timeout_ms=1000, max_records=world.batch_size
                )
                started = started or time.perf_counter()
                futures = [
                    await producer.send(
                        RAW_OUT, json.dumps(json.loads(r.value)).encode(), key=r.key
                    )
                    for records in batches.values()
                    for r in records
                ]
                await asyncio.gather(*futures)
                done += len(futures)
            return Rate("raw", done, time.perf_counter() - started)
    finally:
        await producer.stop()


async def processor_rate(
    world: World, workload: Workload, processes: int, profile: Path | None = None
) -> Measured:
    """The workload drained by `processes` processors on a fresh broker, after the raw rate."""
    await set_direction(world.database.dsn, workload.direction)
    await world.sandbox.reset_counters()
    async with embedded_broker() as broker:
        stack = stack_of(broker, world.database, PARTITIONS)
        raw = await raw_rate(stack, world)
        await bus.ensure_topics(stack.kafka, bus.all_topics(["contacts"]))
        processors = [stack.service("processor", "--object", "contacts") for _ in range(processes)]
        profiler = Profiler(profile) if profile else None
        try:
            launched = time.monotonic()
            await asyncio.gather(*(p.start() for p in processors))
            await wait_for_group(stack.kafka, PROCESSOR_GROUP, processes, processors, STARTUP_LIMIT)
            startup = time.monotonic() - launched
            if profiler and processors[0].pid:
                await profiler.start(processors[0].pid)
            name = f"{workload.name} x{processes}"
            measured = await drain(name, stack, world, processors, raw, startup)
        finally:
            if profiler:
                await profiler.stop()
            await asyncio.gather(*(p.stop(10.0) for p in processors))
    return replace(measured, dynamics=await world.sandbox.counters(ORG))


async def drain(
    name: str,
    stack: Stack,
    world: World,
    processors: Sequence[ChildProcess],
    raw: Rate,
    startup: float,
) -> Measured:
    """Publish the events, collect the commands, verify them and time them."""
    sandbox = world.sandbox.process
    cpu = CpuClock(
        {
            **{server: [pid] for server, pid in stack.pids.items()},
            "processor": [p.pid for p in processors if p.pid is not None],
            "dynamics": [sandbox.pid] if sandbox.pid is not None else [],
            "benchmark": [os.getpid()],
        }
    )
    wanted = len(world.events)
    commands: list[ConsumerRecord] = []
    async with TopicReader(stack.kafka, [WRITES_APP, WRITES_HUBSPOT]) as reader:
        cpu.start()
        started = time.time()
        await publish(stack.kafka, CHANGES, world.messages)
        publishing = time.time() - started
        deadline = time.monotonic() + STALL_LIMIT
        while len(commands) < wanted:
            for processor in processors:
                check_alive(processor)
            arrived = await reader.poll()
            if arrived:
                deadline = time.monotonic() + STALL_LIMIT
            elif time.monotonic() > deadline:
                tails = "\n".join(f"  {line}" for p in processors for line in p.tail)
                raise BenchError(
                    f"the processors emitted {len(commands)} of {wanted} commands, then nothing"
                    f" for {STALL_LIMIT:.0f} s; their last output:\n{tails}"
                )
            commands += arrived
        seconds = cpu.stop()
        commands += await reader.poll(1.0)  # duplicates would show in the next moment
    verify(commands, world)
    # Produce timestamps, stamped by the processors: the benchmark's own reading lags a little.
    first, last = (
        min(r.timestamp for r in commands) / 1000,
        max(r.timestamp for r in commands) / 1000,
    )
    if not started - 1 <= first < last <= time.time():
        raise BenchError(f"the broker changed the commands' timestamps ({first}, {last})")
    rate = Rate(name, len(commands), last - started)
    return Measured(raw, rate, startup, first - started, publishing, seconds, cpu.wall)


def verify(records: list[ConsumerRecord], world: World) -> None:
    """Each event led to exactly one command: the update of its record's firstname in the app."""
    events = world.events
    if len(records) != len(events) or any(r.topic != WRITES_APP for r in records):
        to_app = sum(r.topic == WRITES_APP for r in records)
        raise BenchError(
            f"expected exactly {len(events)} commands to the app and none to HubSpot; got"
            f" {to_app} and {len(records) - to_app}"
        )
    expected = {
        e.event_id: (world.app_ids[i], {"firstname": f"New{i}"}) for i, e in enumerate(events)
    }
    for record in records:
        command = WriteCommand.model_validate_json(record.value)
        if command.op is not WriteOp.UPDATE or (
            expected.pop(command.caused_by, None) != (command.target_id, command.properties)
        ):
            raise BenchError(f"a command the benchmark did not expect (or a duplicate): {command}")


# The run ----------------------------------------------------------------------------------------


async def run(n: int, profile: Path | None, profiled: Workload) -> None:
    batch_size = ProcessorSettings().processor_batch_size
    say(
        f"throughput: {n:,} events, batches of {batch_size}, {PARTITIONS} partitions,"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    events = contact_changes(n)
    messages = [(e.partition_key(), e.model_dump_json().encode()) for e in events]
    async with embedded_database() as database, DynamicsSandbox() as sandbox:
        await sandbox.create_org(ORG)
        await sandbox.set_limits(UNLIMITED_REQUESTS, PER_SECOND)
        app_ids = await sandbox.seed(
            ORG, APP_ENTITY_SET, [app_contact(i, f"Old{i}") for i in range(n)]
        )
        await seed_contacts_sync(database.dsn, app_ids, sandbox.org_url(ORG), sandbox.token)
        say(f"seeded {n:,} linked contacts: the database's links, the Dynamics sandbox's records")
        world = World(events, messages, batch_size, app_ids, database, sandbox)
        if profile:
            measured = await processor_rate(world, profiled, 1, profile)
            report_profile(profiled, measured, profile)
            return
        workloads = {}
        for workload in WORKLOADS.values():
            workloads[workload.name] = measured = await processor_rate(world, workload, 1)
            say(f"{workload.name}: {progress(measured)}")
        scaling = {}
        for k in SCALE_OUT:
            scaling[k] = measured = await processor_rate(world, TWO_WAY, k)
            say(f"{TWO_WAY.name}, {processes_named(k)}: {progress(measured)}")
    report(n, batch_size, workloads, scaling)


def progress(measured: Measured) -> str:
    return (
        f"{measured.rate.per_second:,.0f} events/s (raw {measured.raw.per_second:,.0f}),"
        f" Dynamics requests {measured.requests}; all {measured.rate.events:,} commands"
        f" verified (start-up and group join took {measured.startup:.1f} s, excluded)"
    )


# Reporting --------------------------------------------------------------------------------------


def report(
    n: int, batch_size: int, workloads: dict[str, Measured], scaling: dict[int, Measured]
) -> None:
    two_way, one_way = workloads[TWO_WAY.name], workloads[ONE_WAY.name]
    single = scaling[SCALE_OUT[0]]
    header = (
        "seconds",
        "events/s",
        "raw events/s",
        "vs raw",
        "per processor CPU s",
        "Dynamics requests",
    )
    print(f"\none processor, {n:,} events:")
    print(table(("", *header), [(name, *columns(m)) for name, m in workloads.items()]))
    print(f"\nscaling out ({TWO_WAY.name}, {PARTITIONS} partitions, one consumer group):")
    rows = [
        (processes_named(k), *columns(m), f"{ratio(m, single):.2f}") for k, m in scaling.items()
    ]
    print(table(("", *header, "vs 1"), rows))
    print(cpu_table({**workloads, **{processes_named(k): m for k, m in scaling.items()}}))
    print(
        f"\n(Each clock runs from the start of publishing the {n:,} events, which took"
        f" {two_way.publishing:.2f} s in {TWO_WAY.name}, to the last command; the processes"
        " had joined their consumer group before. Raw: measured on the same broker just before."
        " Per processor CPU s: events per CPU second the processor processes spent, which other"
        " work on the machine moves less than the rates.)"
    )
    print("\nratios:")
    for name, m in workloads.items():
        print(f"  {name}/raw: {m.rate.per_second / m.raw.per_second:.3f}")
    print(f"  {ONE_WAY.name}/{TWO_WAY.name}: {ratio(one_way, two_way):.2f}")
    print(f"  {ONE_WAY.name}/{TWO_WAY.name} per processor CPU s: {cpu_ratio(one_way, two_way):.2f}")
    for k, m in scaling.items():
        print(f"  {processes_named(k)}/{processes_named(SCALE_OUT[0])}: {ratio(m, single):.2f}")
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    save_results(
        "throughput",
        {
            "measured_at": measured_at,
            "cpus": os.cpu_count(),
            "events": n,
            "batch_size": batch_size,
            "partitions": PARTITIONS,
            **{name: figures(m) for name, m in workloads.items()},
            "ratio_one_way_to_two_way": round(ratio(one_way, two_way), 4),
            "ratio_one_way_to_two_way_per_cpu_s": round(cpu_ratio(one_way, two_way), 4),
        },
    )
    save_results(
        "scaling",
        {
            "measured_at": measured_at,
            "cpus": os.cpu_count(),
            "events": n,
            "partitions": PARTITIONS,
            "workload": TWO_WAY.name,
            "processes": {
                str(k): {**figures(m), "ratio_to_1": round(ratio(m, single), 4)}
                for k, m in scaling.items()
            },
        },
    )


def processes_named(k: int) -> str:
    return f"{k} process{'es' if k > 1 else ''}"


def per_cpu_second(measured: Measured) -> float:
    return measured.rate.events / max(measured.cpu["processor"], 1e-9)


def ratio(a: Measured, b: Measured) -> float:
    return a.rate.per_second / b.rate.per_second


def cpu_ratio(a: Measured, b: Measured) -> float:
    return per_cpu_second(a) / per_cpu_second(b)


def columns(measured: Measured) -> tuple[str, ...]:
    rate, raw = measured.rate, measured.raw
    return (
        f"{rate.seconds:.2f}",
        f"{rate.per_second:,.0f}",
        f"{raw.per_second:,.0f}",
        f"{rate.per_second / raw.per_second:.3f}",
        f"{per_cpu_second(measured):,.0f}",
        measured.requests,
    )


def cpu_table(runs: dict[str, Measured]) -> str:
    """Where the CPUs went during each measurement, this benchmark's processes and others'."""
    cpus = os.cpu_count() or 1
    groups = list(next(iter(runs.values())).cpu)
    rows = []
    for name, m in runs.items():
        ours = sum(s for g, s in m.cpu.items() if g != CpuClock.OTHERS)
        rows.append(
            (
                name,
                f"{m.cpu_wall:.2f}",
                *(f"{m.cpu[g]:.2f}" for g in groups),
                f"{ours / (m.cpu_wall * cpus):.0%}",
                f"{(ours + m.cpu[CpuClock.OTHERS]) / (m.cpu_wall * cpus):.0%}",
            )
        )
    text = (
        "\nCPU seconds from the start of publishing until the last command was read"
        f" ({CpuClock.OTHERS}: processes not of this benchmark; ours, machine busy: shares of"
        f" what {cpus} CPUs give over the wall time):\n"
        + table(("", "wall", *groups, "ours", "machine busy"), rows)
    )
    crowded = [
        name for name, m in runs.items() if m.cpu[CpuClock.OTHERS] > CROWDED * m.cpu_wall * cpus
    ]
    if crowded:
        text += (
            f"\nOther processes took over {CROWDED:.0%} of the CPUs during {', '.join(crowded)}:"
            " those rates say as much about the machine's other work as about datasync."
        )
    return text


def figures(measured: Measured) -> dict[str, Any]:
    rate, raw = measured.rate, measured.raw
    return {
        "seconds": round(rate.seconds, 3),
        "events_per_s": round(rate.per_second),
        "raw": {"seconds": round(raw.seconds, 3), "events_per_s": round(raw.per_second)},
        "ratio_to_raw": round(rate.per_second / raw.per_second, 4),
        "events_per_processor_cpu_s": round(per_cpu_second(measured)),
        "startup_s_excluded": round(measured.startup, 2),
        "first_command_s": round(measured.first_command, 3),
        "publishing_s": round(measured.publishing, 3),
        "dynamics_requests": measured.dynamics["requests"],
        "dynamics_batched_operations": measured.dynamics["batched_operations"],
        "cpu_seconds": {name: round(s, 2) for name, s in measured.cpu.items()},
        "cpu_wall_s": round(measured.cpu_wall, 3),
    }


def report_profile(workload: Workload, measured: Measured, profile: Path) -> None:
    print()
    rows = [
        (r.name, f"{r.events:,}", f"{r.seconds:.2f}", f"{r.per_second:,.0f}")
        for r in (measured.raw, measured.rate)
    ]
    print(table(("", "events", "seconds", "events/s"), rows))
    print(f"\nratio {workload.name}/raw: {measured.rate.per_second / measured.raw.per_second:.3f}")
    print(f"Dynamics requests: {measured.requests}")
    print(f"\nprofile of the {workload.name} processor while it ran ({profile}):")
    print(profile_summary(profile))
    print("\n(profiled run: py-spy perturbs the figures, so bench/results.json is unchanged)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--events", type=int, default=50_000, help="events per measurement")
    size.add_argument("--quick", action="store_true", help="10,000 events")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="measure only raw and one workload, sampling its processor with py-spy while it"
        " works; collapsed stacks go to FILE",
    )
    parser.add_argument(
        "--profile-workload",
        choices=sorted(WORKLOADS),
        default=TWO_WAY.name,
        help="the workload --profile measures (default: %(default)s)",
    )
    args = parser.parse_args()
    try:
        if args.profile:
            Profiler.executable()  # before a minute of work, not after
        n = 10_000 if args.quick else args.events
        asyncio.run(stopped_by_sigterm(run(n, args.profile, WORKLOADS[args.profile_workload])))
    except (BenchError, ChildDied) as exc:
        sys.exit(f"benchmark failed: {exc}")
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("benchmark stopped")


if __name__ == "__main__":
    main()
