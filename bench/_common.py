"""What the benchmarks share: a throwaway broker and database, the state of a running contacts
sync, change events, fast publishing, a service subprocess, topic watching, profiling, progress
lines, the tail of services' output, results.

Benchmarks run as scripts (`python bench/<name>.py`), so this module is imported as `_common`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.events import ChangeEvent, Side
from schemas.settings import SyncSettings, SyncState
from services import bus
from services.config import KafkaSettings
from services.devstack.broker import EmbeddedBroker
from services.devstack.database import EmbeddedPostgres
from services.devstack.supervisor import ChildDied, ChildProcess, discard_output, free_ports
from services.domain.mapping import canonical, default_mappings
from services.store.migrate import migrate
from services.store.repository import Connection, HubSpotAccount, Store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
CONNECTION_ID = "bench-connection"
# Nothing listens on the discard port: a connector call the benchmark did not expect fails loudly.
UNREACHABLE = "http://127.0.0.1:9"


class BenchError(RuntimeError):
    """The benchmark could not measure what it claims to measure."""


@dataclass(frozen=True)
class Rate:
    name: str
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


# The broker and the database ---------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    bootstrap: str
    dsn: str

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(kafka_bootstrap=self.bootstrap, kafka_idempotence=False)

    def service(self, *args: str) -> ChildProcess:
        """`python -m services.cli <args>` against this stack; its last lines stay in `.tail`."""
        env = {
            **os.environ,
            "DATASYNC_KAFKA_BOOTSTRAP": self.bootstrap,
            "DATASYNC_DATABASE_URL": self.dsn,
            "DATASYNC_KAFKA_IDEMPOTENCE": "false",
        }
        argv = [sys.executable, "-m", "services.cli", *args]
        return ChildProcess(args[0], argv, env=env, cwd=ROOT, output=discard_output)


@contextlib.asynccontextmanager
async def embedded_stack() -> AsyncIterator[Stack]:
    """A fresh embedded broker and a migrated throwaway database, both gone on the way out."""
    data_dir = Path(tempfile.mkdtemp(prefix="datasync-bench-"))
    broker_port, db_port = free_ports(2)
    broker = EmbeddedBroker(broker_port, output=discard_output)
    database = EmbeddedPostgres(data_dir, db_port, durable=False, output=discard_output)
    try:
        bootstrap = await broker.start()
        dsn = await database.start()
        await migrate(dsn)
        yield Stack(bootstrap, dsn)
    finally:
        await asyncio.gather(broker.stop(), database.stop(), return_exceptions=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def check_alive(child: ChildProcess) -> None:
    if child.returncode is not None:
        raise ChildDied(child.name, child.returncode, child.tail)


# A running contacts sync -------------------------------------------------------------------


def hubspot_id(i: int) -> str:
    return f"hs-{i}"


def app_id(i: int) -> str:
    return f"app-{i}"


def contact(i: int, firstname: str) -> dict[str, str]:
    return {
        "email": f"contact{i}@bench.example",
        "firstname": firstname,
        "lastname": f"Last{i}",
        "phone": f"+1555{i:07d}",
        "jobtitle": "Engineer",
    }


async def seed_contacts_sync(dsn: str, n: int) -> None:
    """What a contacts sync holds once its initial sync is done: a HubSpot account, one Dynamics
    connection, the sync `syncing`, and n in-sync links whose two snapshots hold
    `contact(i, f"Old{i}")`. The accounts' URLs are unreachable: no API is meant to be called."""
    store = await Store.connect(dsn)
    try:
        await store.put_hubspot(HubSpotAccount(UNREACHABLE, "bench", "bench", None, None))
        await store.create_connection(
            Connection(
                CONNECTION_ID,
                "dynamics365",
                "bench",
                UNREACHABLE,
                {"access_token": "bench"},
                "bench",
                None,
                datetime.now(UTC),
            )
        )
        await store.put_sync(CONNECTION_ID, "contacts", SyncSettings())
        await store.set_sync_state(CONNECTION_ID, "contacts", SyncState.SYNCING)
        mappings = default_mappings("contacts")
        rows = []
        for i in range(n):
            snapshot = canonical(contact(i, f"Old{i}"), mappings, Side.HUBSPOT)
            rows.append((CONNECTION_ID, "contacts", hubspot_id(i), app_id(i), snapshot, snapshot))
        await store.pool.executemany(
            "INSERT INTO links (connection_id, object_type, hubspot_id, app_id, status,"
            " hubspot_values, app_values, last_synced_at)"
            " VALUES ($1, $2, $3, $4, 'in_sync', $5, $6, now())",
            rows,
        )
        await store.pool.execute("ANALYZE links")  # as autovacuum would have by now
    finally:
        await store.close()


def contact_changes(n: int) -> list[ChangeEvent]:
    """n complete HubSpot changes, each of a linked contact whose firstname is now `New{i}`."""
    return [
        ChangeEvent(
            object_type="contacts",
            side=Side.HUBSPOT,
            connection_id=CONNECTION_ID,
            record_id=hubspot_id(i),
            properties=contact(i, f"New{i}"),
            complete=True,
        )
        for i in range(n)
    ]


# Kafka -------------------------------------------------------------------------------------


async def publish(
    kafka: KafkaSettings, topic: str, messages: Sequence[tuple[bytes, bytes]]
) -> None:
    """Publish (key, value) pairs and wait until the broker acknowledged all of them."""
    producer = bus.producer(kafka)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class TopicReader:
    """All partitions of some topics, read from the start without joining a group.

    Not through end offsets: the embedded broker's ListOffsets answers the last batch's base
    offset + 1, not the high watermark, so it undercounts by all but one record of that batch.
    """

    def __init__(self, kafka: KafkaSettings, topics: Sequence[str]) -> None:
        self.partitions = [
            TopicPartition(t, p) for t in topics for p in range(kafka.kafka_partitions)
        ]
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.kafka_bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        self.consumer.assign(self.partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self, seconds: float = 0.5) -> list[ConsumerRecord]:
        """What arrived since the last poll (waits up to `seconds` for something)."""
        batches = await self.consumer.getmany(timeout_ms=int(seconds * 1000))
        return [record for batch in batches.values() for record in batch]


# Profiling ---------------------------------------------------------------------------------


class Profiler:
    """py-spy sampling one process's CPU time into a collapsed-stacks file.

    It pauses the process for each sample (the figures of a profiled run are lower), because
    stacks read from a running process are now and then torn."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.process: asyncio.subprocess.Process | None = None

    @staticmethod
    def executable() -> str:
        found = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        if found is None:
            raise BenchError("py-spy is not installed (.venv/bin/pip install py-spy)")
        return found

    async def start(self, pid: int) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *[self.executable(), "record", "--pid", str(pid), "--rate", "100"],
            *["--format", "raw", "--output", str(self.path)],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            await self.process.wait()


def profile_summary(path: Path, top: int = 15) -> str:
    """Where a py-spy raw profile's samples fell: the functions by their own time, and datasync's
    functions by their time inclusive of what they call."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        # "function (file.py:line)" without the line, so a function's samples add up.
        frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        inclusive.update({f: count for f in set(frames) if "(services/" in f or "(schemas/" in f})
    lines = [f"{total} samples of CPU time"]
    for title, counter in (("own time", own), ("time inclusive of calls (datasync)", inclusive)):
        lines.append(f"top {top} by {title}:")
        for frame, count in counter.most_common(top):
            lines.append(f"  {100 * count / max(total, 1):5.1f}%  {frame}")
    return "\n".join(lines)


# Reporting ---------------------------------------------------------------------------------


def say(text: str) -> None:
    """A progress line, stamped with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Tail:
    """An output sink for services (`OutputSink`) that keeps their last lines, to show when a
    run fails."""

    def __init__(self, size: int = 60, log: Path | None = None) -> None:
        """`log`: a file that receives every line as well (for looking into a run)."""
        self.lines: deque[str] = deque(maxlen=size)
        self.log = log.open("a", buffering=1) if log is not None else None

    def __call__(self, name: str, line: str) -> None:
        text = f"{name:>16} | {line}"
        self.lines.append(text)
        if self.log is not None:
            self.log.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def __str__(self) -> str:
        return "\n".join(self.lines)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: the first column left-aligned, the figures right-aligned."""
    cells = [list(header), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            [row[0].ljust(widths[0])]
            + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def save_results(key: str, figures: dict[str, Any]) -> None:
    """Merge one benchmark's figures into bench/results.json, keeping the others'."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[key] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
