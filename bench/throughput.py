"""Throughput of the processor against the raw Kafka plumbing, on one broker, in one run.

raw        one process: consume (getmany, a processor batch at a time), json.loads, json.dumps,
           produce (send futures, acks=all), wait for the batch's acks, fetch the next batch.
processor  the real `datasync processor --object contacts` as a subprocess, on complete HubSpot
           changes of linked, synced contacts whose firstname changed: per batch it does its
           real store lookups and emits one update command per event, and calls no API.

Both drain a backlog of the same N events already in their input topic (6 partitions). The
processor is timed from its first command to its N-th (the commands' produce timestamps), so
its start-up and consumer-group join are excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    BenchError,
    Profiler,
    Rate,
    Stack,
    TopicReader,
    app_id,
    check_alive,
    contact_changes,
    embedded_stack,
    profile_summary,
    publish,
    save_results,
    seed_contacts_sync,
    table,
)
from aiokafka.structs import ConsumerRecord

from schemas import topics
from schemas.commands import WriteCommand, WriteOp
from schemas.events import ChangeEvent, Side
from services import bus
from services.config import ProcessorSettings

RAW_IN, RAW_OUT = "bench.raw.in", "bench.raw.out"
CHANGES = topics.changes("contacts")
WRITES_APP = topics.writes("contacts", Side.APP)
WRITES_HUBSPOT = topics.writes("contacts", Side.HUBSPOT)
STARTUP_LIMIT = 120.0  # seconds for the processor to start, join its group and emit a command
STALL_LIMIT = 30.0  # seconds without a new command before the run is declared stuck

Messages = list[tuple[bytes, bytes]]


async def raw_rate(stack: Stack, messages: Messages, batch_size: int) -> Rate:
    kafka = stack.kafka
    await bus.ensure_topics(kafka, [RAW_IN, RAW_OUT])
    await publish(kafka, RAW_IN, messages)
    producer = bus.producer(kafka)
    await producer.start()
    try:
        async with TopicReader(kafka, [RAW_IN]) as reader, asyncio.timeout(STARTUP_LIMIT):
            done, started = 0, 0.0
            while done < len(messages):
                batches = await reader.consumer.getmany(timeout_ms=1000, max_records=batch_size)
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
    stack: Stack, events: list[ChangeEvent], messages: Messages, profile: Path | None
) -> tuple[Rate, float]:
    """The processor's rate, and the seconds from its launch to its first command."""
    kafka = stack.kafka
    await bus.ensure_topics(kafka, bus.all_topics(["contacts"]))
    await publish(kafka, CHANGES, messages)
    processor = stack.service("processor", "--object", "contacts")
    profiler = Profiler(profile) if profile else None
    launched = time.time()
    await processor.start()
    commands: list[ConsumerRecord] = []
    try:
        async with TopicReader(kafka, [WRITES_APP, WRITES_HUBSPOT]) as reader:
            deadline = time.monotonic() + STARTUP_LIMIT
            while len(commands) < len(events):
                check_alive(processor)
                arrived = await reader.poll()
                if arrived and not commands and profiler and processor.pid:
                    await profiler.start(processor.pid)
                if arrived:
                    deadline = time.monotonic() + STALL_LIMIT
                elif time.monotonic() > deadline:
                    raise BenchError(
                        f"the processor emitted {len(commands)} of {len(events)} commands, then"
                        f" nothing for {STALL_LIMIT if commands else STARTUP_LIMIT:.0f} s; its"
                        " last output:\n  " + "\n  ".join(processor.tail)
                    )
                commands += arrived
            if profiler:
                await profiler.stop()
            commands += await reader.poll(1.0)  # duplicates would show in the next moment
    finally:
        if profiler:
            await profiler.stop()
        await processor.stop(10.0)
    verify(commands, events)
    # Produce timestamps, stamped by the processor: the benchmark's own reading lags a little.
    first, last = (
        min(r.timestamp for r in commands) / 1000,
        max(r.timestamp for r in commands) / 1000,
    )
    if not launched - 1 <= first < last <= time.time():
        raise BenchError(f"the broker changed the commands' timestamps ({first}, {last})")
    return Rate("processor", len(commands), last - first), first - launched


def verify(records: list[ConsumerRecord], events: list[ChangeEvent]) -> None:
    """Each event led to exactly one command: the update of its record's firstname in the app."""
    if len(records) != len(events) or any(r.topic != WRITES_APP for r in records):
        to_app = sum(r.topic == WRITES_APP for r in records)
        raise BenchError(
            f"expected exactly {len(events)} commands to the app and none to HubSpot; got"
            f" {to_app} and {len(records) - to_app}"
        )
    expected = {e.event_id: (app_id(i), {"firstname": f"New{i}"}) for i, e in enumerate(events)}
    for record in records:
        command = WriteCommand.model_validate_json(record.value)
        if command.op is not WriteOp.UPDATE or (
            expected.pop(command.caused_by, None) != (command.target_id, command.properties)
        ):
            raise BenchError(f"a command the benchmark did not expect (or a duplicate): {command}")


async def run(n: int, profile: Path | None) -> None:
    batch_size = ProcessorSettings().processor_batch_size
    say(f"throughput: {n:,} events, batches of {batch_size}, {os.cpu_count()} CPUs")
    events = contact_changes(n)
    messages = [(e.partition_key(), e.model_dump_json().encode()) for e in events]
    async with embedded_stack() as stack:
        say(f"broker {stack.bootstrap}, database {stack.dsn}")
        await seed_contacts_sync(stack.dsn, n)
        say(f"seeded a contacts sync with {n:,} linked records")
        raw = await raw_rate(stack, messages, batch_size)
        say(f"raw pass-through done: {raw.per_second:,.0f} events/s")
        processor, startup = await processor_rate(stack, events, messages, profile)
        say(f"processor done: {processor.per_second:,.0f} events/s; all {n:,} commands verified")
    ratio = processor.per_second / raw.per_second
    rows = [
        (r.name, f"{r.events:,}", f"{r.seconds:.2f}", f"{r.per_second:,.0f}")
        for r in (raw, processor)
    ]
    print()
    print(table(("", "events", "seconds", "events/s"), rows))
    print(f"\nratio processor/raw: {ratio:.3f}")
    print(
        f"(processor timed from its first write command to its {n:,}th; its start-up and group"
        f" join, {startup:.1f} s from launch to the first command, are excluded)"
    )
    if profile:
        print(f"\nprofile of the processor while it ran ({profile}):")
        print(profile_summary(profile))
        print("\n(profiled run: py-spy perturbs the figures, so bench/results.json is unchanged)")
        return
    save_results(
        "throughput",
        {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "events": n,
            "batch_size": batch_size,
            "raw": {"seconds": round(raw.seconds, 3), "events_per_s": round(raw.per_second)},
            "processor": {
                "seconds": round(processor.seconds, 3),
                "events_per_s": round(processor.per_second),
                "startup_seconds_excluded": round(startup, 2),
            },
            "ratio": round(ratio, 4),
        },
    )


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--events", type=int, default=50_000, help="events per measurement")
    size.add_argument("--quick", action="store_true", help="10,000 events")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="sample the processor with py-spy while it works; collapsed stacks go to FILE",
    )
    args = parser.parse_args()
    try:
        if args.profile:
            Profiler.executable()  # before a minute of work, not after
        asyncio.run(run(10_000 if args.quick else args.events, args.profile))
    except BenchError as exc:
        sys.exit(f"benchmark failed: {exc}")


if __name__ == "__main__":
    main()
