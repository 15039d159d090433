"""What the benchmarks share: a throwaway broker and database, the state of a running contacts
sync, change events, fast publishing, a service subprocess, topic and consumer-group watching,
profiling and CPU accounting, progress lines, the tail of services' output, results.

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
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from schemas.events import ChangeEvent, Side
from schemas.settings import Direction, SyncSettings, SyncState
from services import bus
from services.config import KafkaSettings, SandboxSettings
from services.devstack.broker import EmbeddedBroker
from services.devstack.database import EmbeddedPostgres
from services.devstack.stack import Stack as Devstack
from services.devstack.supervisor import ChildDied, ChildProcess, discard_output, free_ports
from services.domain.mapping import canonical, default_mappings, to_side
from services.store.migrate import migrate
from services.store.repository import Connection, HubSpotAccount, Store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
CONNECTION_ID = "bench-connection"
# Nothing listens on the discard port: a connector call the benchmark did not expect fails loudly.
UNREACHABLE = "http://127.0.0.1:9"
APP_ENTITY_SET = "contacts"  # where Dynamics 365 keeps contacts

T = TypeVar("T")


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
    partitions: int | None = None
    """Partitions of the topics the benchmark and its services create; None: the default."""
    pids: Mapping[str, int] = field(default_factory=dict)
    """The broker's and the database's process ids, for CPU accounting."""

    @property
    def kafka(self) -> KafkaSettings:
        settings = KafkaSettings(kafka_bootstrap=self.bootstrap, kafka_idempotence=False)
        if self.partitions is not None:
            settings = settings.model_copy(update={"kafka_partitions": self.partitions})
        return settings

    def service(self, *args: str) -> ChildProcess:
        """`python -m services.cli <args>` against this stack; its last lines stay in `.tail`."""
        env = {
            **os.environ,
            "DATASYNC_KAFKA_BOOTSTRAP": self.bootstrap,
            "DATASYNC_DATABASE_URL": self.dsn,
            "DATASYNC_KAFKA_IDEMPOTENCE": "false",
            "DATASYNC_KAFKA_PARTITIONS": str(self.kafka.kafka_partitions),
        }
        argv = [sys.executable, "-m", "services.cli", *args]
        return ChildProcess(args[0], argv, env=env, cwd=ROOT, output=discard_output)


@contextlib.asynccontextmanager
async def embedded_database() -> AsyncIterator[EmbeddedPostgres]:
    """A migrated throwaway database (`.dsn`), gone on the way out."""
    data_dir = Path(tempfile.mkdtemp(prefix="datasync-bench-"))
    (db_port,) = free_ports(1)
    database = EmbeddedPostgres(data_dir, db_port, durable=False, output=discard_output)
    try:
        await database.start()
        await migrate(database.dsn)
        yield database
    finally:
        await database.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def embedded_broker() -> AsyncIterator[EmbeddedBroker]:
    """A fresh broker (`.bootstrap`), holding no topic, no group and no offset."""
    (broker_port,) = free_ports(1)
    broker = EmbeddedBroker(broker_port, output=discard_output)
    try:
        await broker.start()
        yield broker
    finally:
        await broker.stop()


def stack_of(
    broker: EmbeddedBroker, database: EmbeddedPostgres, partitions: int | None = None
) -> Stack:
    processes = {"broker": broker.process, "postgres": database.process}
    pids = {name: p.pid for name, p in processes.items() if p is not None and p.pid is not None}
    return Stack(broker.bootstrap, database.dsn, partitions, pids)


@contextlib.asynccontextmanager
async def embedded_stack(partitions: int | None = None) -> AsyncIterator[Stack]:
    """A fresh embedded broker and a migrated throwaway database, both gone on the way out."""
    async with embedded_database() as database, embedded_broker() as broker:
        yield stack_of(broker, database, partitions)


async def stopped_by_sigterm(work: Awaitable[T]) -> T:
    """`work`, cancelled on SIGTERM as on Ctrl-C, so that its clean-ups stop the services it
    started: they run in sessions of their own and would outlive a benchmark killed outright."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await work
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def check_alive(child: ChildProcess) -> None:
    if child.returncode is not None:
        raise ChildDied(child.name, child.returncode, child.tail)


# A running contacts sync -------------------------------------------------------------------


def hubspot_id(i: int) -> str:
    return f"hs-{i}"


def contact(i: int, firstname: str) -> dict[str, str]:
    """The HubSpot contact i, by its HubSpot property names."""
    return {
        "email": f"contact{i}@bench.example",
        "firstname": firstname,
        "lastname": f"Last{i}",
        "phone": f"+1555{i:07d}",
        "jobtitle": "Engineer",
    }


def app_contact(i: int, firstname: str) -> dict[str, str]:
    """The same contact by the app's field names, through the default mappings."""
    mappings = default_mappings("contacts")
    values = canonical(contact(i, firstname), mappings, Side.HUBSPOT)
    return {k: v for k, v in to_side(values, mappings, Side.APP).items() if v is not None}


async def seed_contacts_sync(
    dsn: str, app_ids: Sequence[str], app_url: str, app_token: str
) -> None:
    """What a contacts sync holds once its initial sync is done: a HubSpot account, one Dynamics
    connection to `app_url`, the sync `syncing`, and a link per app id, in sync, whose two
    snapshots hold `contact(i, f"Old{i}")`: `app_ids[i]` is the app's record of HubSpot's
    `hubspot_id(i)`. HubSpot's URL is unreachable: no HubSpot API is meant to be called."""
    store = await Store.connect(dsn)
    try:
        await store.put_hubspot(HubSpotAccount(UNREACHABLE, "bench", "bench", None, None))
        await store.create_connection(
            Connection(
                CONNECTION_ID,
                "dynamics365",
                "bench",
                app_url,
                {"access_token": app_token},
                "bench",
                None,
                datetime.now(UTC),
            )
        )
        await store.put_sync(CONNECTION_ID, "contacts", SyncSettings())
        await store.set_sync_state(CONNECTION_ID, "contacts", SyncState.SYNCING)
        mappings = default_mappings("contacts")
        rows = []
        for i, app_id in enumerate(app_ids):
            snapshot = canonical(contact(i, f"Old{i}"), mappings, Side.HUBSPOT)
            rows.append((CONNECTION_ID, "contacts", hubspot_id(i), app_id, snapshot, snapshot))
        await store.pool.executemany(
            "INSERT INTO links (connection_id, object_type, hubspot_id, app_id, status,"
            " hubspot_values, app_values, last_synced_at)"
            " VALUES ($1, $2, $3, $4, 'in_sync', $5, $6, now())",
            rows,
        )
        await store.pool.execute("ANALYZE links")  # as autovacuum would have by now
    finally:
        await store.close()


async def set_direction(dsn: str, direction: Direction) -> None:
    """The bench contacts sync's direction, its other settings the defaults."""
    store = await Store.connect(dsn)
    try:
        await store.put_sync(CONNECTION_ID, "contacts", SyncSettings(direction=direction))
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


async def wait_for_group(
    kafka: KafkaSettings,
    group: str,
    members: int,
    children: Sequence[ChildProcess],
    limit: float,
) -> None:
    """Until the consumer group is stable with `members` members, i.e. they hold their
    partitions and no rebalance is pending; raises if a child dies or `limit` seconds pass."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + limit
        state, joined = "unknown", 0
        while time.monotonic() < deadline:
            for child in children:
                check_alive(child)
            # One response per group coordinator; each group is (error_code, group, state,
            # protocol_type, protocol, members).
            described = {
                name: (group_state, len(group_members))
                for response in await admin.describe_consumer_groups([group])
                for _, name, group_state, _, _, group_members in response.groups
            }
            state, joined = described.get(group, ("unknown", 0))
            if state == "Stable" and joined == members:
                return
            await asyncio.sleep(0.2)
        raise BenchError(
            f"consumer group {group} is {state} with {joined} of {members} members"
            f" after {limit:.0f} s"
        )
    finally:
        await admin.close()


# Profiling and CPU time --------------------------------------------------------------------


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


class CpuClock:
    """CPU seconds (user and system) that groups of processes spend between `start()` and
    `stop()`, and what the rest of the machine spent meanwhile (`OTHERS`: other people's work
    on a shared machine). A process counts with its descendants (a database server's backends),
    except this one, whose children are the services it measures."""

    OTHERS = "others"

    def __init__(self, groups: Mapping[str, Iterable[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self.started: dict[str, dict[int, float]] = {}
        self.machine_started = 0.0
        self.clock_started = 0.0
        self.wall = 0.0
        """Seconds from `start()` to `stop()`."""

    @staticmethod
    def _read(pids: Iterable[int]) -> dict[int, float]:
        spent = {}
        for pid in pids:
            try:
                root = psutil.Process(pid)
                family = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for process in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    spent[process.pid] = times.user + times.system
        return spent

    @staticmethod
    def _machine() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    def start(self) -> None:
        self.started = {name: self._read(pids) for name, pids in self.groups.items()}
        self.machine_started = self._machine()
        self.clock_started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """The seconds each group spent (a process started meanwhile counts from its start),
        then the machine's other processes."""
        machine = self._machine() - self.machine_started
        self.wall = time.monotonic() - self.clock_started
        seconds = {}
        for name, pids in self.groups.items():
            before = self.started.get(name, {})
            now = self._read(pids)
            seconds[name] = sum(t - before.get(pid, 0.0) for pid, t in now.items())
        seconds[self.OTHERS] = max(0.0, machine - sum(seconds.values()))
        return seconds


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


async def connect_contacts_sync(stack: Devstack, api: httpx.AsyncClient, org: str) -> str:
    """Through the control API of a whole stack: the HubSpot sandbox account (its webhooks to
    ingest), a connection to the Dynamics sandbox organisation `org` and a two-way contacts
    sync, HubSpot winning conflicts, not started. Its connection id."""
    sandbox = SandboxSettings()
    async with httpx.AsyncClient(trust_env=False) as http:
        hook = {"url": f"{stack.ingest_url}/webhooks/hubspot"}
        (await http.put(f"{stack.hubspot_url}/_sandbox/webhook", json=hook)).raise_for_status()
    account = {
        "base_url": stack.hubspot_url,
        "access_token": sandbox.sandbox_hubspot_token,
        "app_secret": sandbox.sandbox_hubspot_app_secret,
    }
    (await api.put("/v1/hubspot", json=account)).raise_for_status()
    connection = {
        "app": "dynamics365",
        "name": "bench",
        "base_url": f"{stack.dynamics_url}/{org}",
        "credentials": {"access_token": sandbox.sandbox_dynamics_token},
    }
    response = await api.post("/v1/connections", json=connection)
    response.raise_for_status()
    cid = str(response.json()["id"])
    settings = {"direction": "two_way", "conflict_winner": "hubspot"}
    (await api.put(f"/v1/connections/{cid}/syncs/contacts", json=settings)).raise_for_status()
    return cid
