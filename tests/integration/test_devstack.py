"""The embedded broker, the embedded PostgreSQL, the supervisor and the Stack, for real."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.config import StackSettings
from services.devstack.broker import kafka_answers
from services.devstack.database import EmbeddedPostgres
from services.devstack.stack import Stack
from services.devstack.supervisor import (
    ChildDied,
    ChildProcess,
    PortInUseError,
    PortSpec,
    Supervisor,
    check_ports_free,
    discard_output,
    http_probe,
)

pytestmark = pytest.mark.integration

FreePorts = Callable[[int], list[int]]

# A stand-in for a service: answers /healthz on its port; with --ignore-sigterm it has to be
# killed; with --spawn PORT it leaves a grandchild listening on PORT.
HTTP_CHILD = textwrap.dedent(
    """
    import http.server, signal, subprocess, sys

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    port, *options = sys.argv[1:]
    if "--ignore-sigterm" in options:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "--spawn" in options:
        subprocess.Popen([sys.executable, __file__, options[options.index("--spawn") + 1]])
    print("serving on", port, flush=True)
    http.server.HTTPServer(("127.0.0.1", int(port)), Health).serve_forever()
    """
)

# A stand-in for `python -m services.cli`: records what it was started with, then behaves like
# the service (migrate exits, the HTTP services answer /healthz, the workers idle).
FAKE_CLI = textwrap.dedent(
    """
    import json, os, sys, time

    service = sys.argv[1]
    with open(os.environ["FAKE_CLI_LOG"], "a") as log:
        env = {k: v for k, v in os.environ.items() if k.startswith("DATASYNC_")}
        log.write(json.dumps({"service": service, "env": env}) + "\\n")
    if service == "migrate":
        sys.exit(int(os.environ.get("FAKE_MIGRATE_EXIT", "0")))
    port_var = {"api": "API", "ingest": "INGEST", "sandbox-hubspot": "SANDBOX_HUBSPOT",
                "sandbox-dynamics": "SANDBOX_DYNAMICS"}.get(service)
    if port_var:
        http_child = os.path.join(os.path.dirname(__file__), "http_child.py")
        port = os.environ[f"DATASYNC_{port_var}_PORT"]
        os.execv(sys.executable, [sys.executable, http_child, port])
    while True:
        time.sleep(3600)
    """
)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_child(script: Path, name: str, port: int, *options: str) -> ChildProcess:
    return ChildProcess(
        name,
        [sys.executable, str(script), str(port), *options],
        ready=http_probe(f"http://127.0.0.1:{port}/healthz"),
        output=discard_output,
    )


@pytest.fixture
def http_child_script(tmp_path: Path) -> Path:
    path = tmp_path / "http_child.py"
    path.write_text(HTTP_CHILD)
    return path


async def test_broker_round_trips_keyed_messages_through_several_partitions(
    broker_bootstrap: str,
) -> None:
    topic = f"devstack-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=broker_bootstrap, acks="all", enable_idempotence=False
    )
    await producer.start()
    try:
        sends = [
            await producer.send(topic, key=f"key-{i}".encode(), value=f"value-{i}".encode())
            for i in range(60)
        ]
        sent = {m.partition for m in await asyncio.gather(*sends)}
    finally:
        await producer.stop()
    assert sent == {0, 1, 2, 3}

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker_bootstrap,
        group_id=f"group-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: dict[bytes, bytes] = {}
    partitions: dict[bytes, set[int]] = {}
    try:
        async with asyncio.timeout(30):
            while len(received) < 60:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, messages in batches.items():
                    for m in messages:
                        assert m.key is not None
                        assert m.value is not None
                        received[m.key] = m.value
                        partitions.setdefault(m.key, set()).add(tp.partition)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert received == {f"key-{i}".encode(): f"value-{i}".encode() for i in range(60)}
    assert all(len(p) == 1 for p in partitions.values()), "a key must stay on one partition"


async def test_database_answers_a_query(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
    finally:
        await conn.close()


async def test_restarted_database_keeps_its_rows(scratch_dir: Path, free_ports: FreePorts) -> None:
    data_dir = scratch_dir / f"restart-{uuid.uuid4().hex[:8]}"
    (port,) = free_ports(1)
    async with EmbeddedPostgres(data_dir, port, durable=False, output=discard_output) as dsn:
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, name text)")
        await conn.executemany("INSERT INTO kept VALUES ($1, $2)", [(1, "a"), (2, "b")])
        await conn.close()
    assert not listening(port)

    async with EmbeddedPostgres(data_dir, port, durable=False, output=discard_output) as dsn:
        conn = await asyncpg.connect(dsn)
        rows = await conn.fetch("SELECT id, name FROM kept ORDER BY id")
        await conn.close()
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]


async def test_database_starts_again_after_its_server_was_killed(
    scratch_dir: Path, free_ports: FreePorts
) -> None:
    data_dir = scratch_dir / f"killed-{uuid.uuid4().hex[:8]}"
    (port,) = free_ports(1)
    # Durable, as under `make run`: without it the last commits may die with the server.
    first = EmbeddedPostgres(data_dir, port, output=discard_output)
    dsn = await first.start()
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE survivors AS SELECT 7 AS n")
    await conn.close()
    assert first.process is not None
    assert first.process.pid is not None
    os.kill(first.process.pid, signal.SIGKILL)
    assert await first.process.wait() == -signal.SIGKILL
    assert (first.pgdata / "postmaster.pid").exists(), "the stale pid file is the point"

    async with EmbeddedPostgres(data_dir, port, output=discard_output) as dsn:
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT n FROM survivors") == 7
        await conn.close()
    await first.stop()


async def test_database_left_running_on_its_data_is_replaced(
    scratch_dir: Path, free_ports: FreePorts
) -> None:
    data_dir = scratch_dir / f"orphan-{uuid.uuid4().hex[:8]}"
    old_port, new_port = free_ports(2)
    left_running = EmbeddedPostgres(data_dir, old_port, durable=False, output=discard_output)
    await left_running.start()
    async with EmbeddedPostgres(data_dir, new_port, durable=False, output=discard_output) as dsn:
        assert left_running.process is not None
        assert left_running.process.returncode is not None
        assert not listening(old_port)
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT current_database()") == "datasync"
        await conn.close()
    await left_running.stop()


def test_check_ports_free_names_the_variable_of_a_taken_port(free_ports: FreePorts) -> None:
    free, taken = free_ports(2)
    ports = [
        PortSpec(free, "webhook ingest", "DATASYNC_INGEST_PORT"),
        PortSpec(taken, "status API", "DATASYNC_API_PORT"),
    ]
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", taken))
        occupant.listen()
        with pytest.raises(PortInUseError) as raised:
            check_ports_free(ports)
    assert str(raised.value) == (
        f"datasync: port {taken} (status API) is already in use; "
        "set DATASYNC_API_PORT to use another port"
    )
    check_ports_free(ports)


def test_make_run_refuses_a_taken_port_with_one_line(
    free_ports: FreePorts, scratch_dir: Path
) -> None:
    api, ingest, hubspot, dynamics, broker, db = free_ports(6)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASYNC_")}
    env.update(
        DATASYNC_DATA_DIR=str(scratch_dir / "unused"),
        DATASYNC_API_PORT=str(api),
        DATASYNC_INGEST_PORT=str(ingest),
        DATASYNC_SANDBOX_HUBSPOT_PORT=str(hubspot),
        DATASYNC_SANDBOX_DYNAMICS_PORT=str(dynamics),
        DATASYNC_BROKER_PORT=str(broker),
        DATASYNC_DB_PORT=str(db),
    )
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", db))
        occupant.listen()
        result = subprocess.run(
            [sys.executable, "-m", "services.devstack"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"datasync: port {db} (embedded PostgreSQL) is already in use; "
        "set DATASYNC_DB_PORT to use another port\n"
    )


async def test_supervisor_stops_every_child_and_nothing_listens_afterwards(
    http_child_script: Path, free_ports: FreePorts
) -> None:
    first, stubborn, parent, grandchild = free_ports(4)
    supervisor = Supervisor(stop_timeout=1.0)
    await supervisor.start(http_child(http_child_script, "first", first))
    await supervisor.start(
        http_child(http_child_script, "stubborn", stubborn, "--ignore-sigterm"),
        http_child(http_child_script, "parent", parent, "--spawn", str(grandchild)),
    )
    for _ in range(100):  # the grandchild is nobody's readiness probe
        if listening(grandchild):
            break
        await asyncio.sleep(0.05)
    assert all(listening(p) for p in (first, stubborn, parent, grandchild))

    await supervisor.stop()

    assert all(child.returncode is not None for child in supervisor.children)
    assert [p for p in (first, stubborn, parent, grandchild) if listening(p)] == []


async def test_supervisor_reports_a_child_that_dies_during_start_up(free_ports: FreePorts) -> None:
    (port,) = free_ports(1)
    supervisor = Supervisor(stop_timeout=1.0)
    doomed = ChildProcess(
        "ingest",
        [sys.executable, "-c", "print('cannot reach the broker'); raise SystemExit(3)"],
        ready=http_probe(f"http://127.0.0.1:{port}/healthz"),
        output=discard_output,
    )
    with pytest.raises(ChildDied) as raised:
        await supervisor.start(doomed, ready_within=30)
    await supervisor.stop()
    assert (raised.value.name, raised.value.returncode) == ("ingest", 3)
    assert "cannot reach the broker" in raised.value.tail
    assert str(raised.value).splitlines()[0] == "datasync: ingest exited with code 3"


async def test_supervisor_watch_reports_a_child_that_dies_later(
    http_child_script: Path, free_ports: FreePorts
) -> None:
    (port,) = free_ports(1)
    supervisor = Supervisor(stop_timeout=1.0)
    try:
        await supervisor.start(
            http_child(http_child_script, "api", port),
            ChildProcess(
                "writer",
                [sys.executable, "-c", "import time; time.sleep(0.3); print('lost'); exit(4)"],
                output=discard_output,
            ),
        )
        with pytest.raises(ChildDied) as raised:
            async with asyncio.timeout(20):
                await supervisor.watch()
    finally:
        await supervisor.stop()
    assert (raised.value.name, raised.value.returncode, raised.value.tail) == (
        "writer",
        4,
        ["lost"],
    )
    assert not listening(port)


def fake_stack(data_dir: Path, fake_cli: Path, free_ports: FreePorts, **env: str) -> Stack:
    api, ingest, hubspot, dynamics, broker, db = free_ports(6)
    settings = StackSettings(
        data_dir=data_dir,
        api_port=api,
        ingest_port=ingest,
        sandbox_hubspot_port=hubspot,
        sandbox_dynamics_port=dynamics,
        broker_port=broker,
        db_port=db,
        devstack_stop_timeout=5,
    )
    return Stack(
        settings,
        output=discard_output,
        extra_env=env,
        service_command=[sys.executable, str(fake_cli)],
        durable_database=False,
    )


@pytest.fixture
def fake_cli(tmp_path: Path, http_child_script: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake services' script; the environment no longer points at an external stack."""
    for var in ("DATASYNC_KAFKA_BOOTSTRAP", "DATASYNC_DATABASE_URL", "DATASYNC_ADMIN_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    path = http_child_script.parent / "fake_cli.py"
    path.write_text(FAKE_CLI)
    return path


async def test_stack_starts_everything_in_order_with_its_environment_and_stops_it(
    fake_cli: Path, tmp_path: Path, scratch_dir: Path, free_ports: FreePorts
) -> None:
    log = tmp_path / "started.jsonl"
    data_dir = scratch_dir / f"stack-{uuid.uuid4().hex[:8]}"
    stack = fake_stack(data_dir, fake_cli, free_ports, FAKE_CLI_LOG=str(log))
    settings = stack.settings
    async with stack:
        # The workers have no health check: wait until each one has recorded its start.
        for _ in range(600):
            if log.exists() and len(log.read_text().splitlines()) == 8:
                break
            await asyncio.sleep(0.05)
        assert await kafka_answers(stack.kafka_bootstrap)
        conn = await asyncpg.connect(stack.database_url)
        assert await conn.fetchval("SELECT current_database()") == "datasync"
        await conn.close()
        stack.check()
    ports = [spec.port for spec in stack.ports()]
    assert len(ports) == 6
    assert [p for p in ports if listening(p)] == []

    started = [json.loads(line) for line in log.read_text().splitlines()]
    order = [s["service"] for s in started]
    assert order[0] == "migrate"
    assert set(order[1:5]) == {"sandbox-hubspot", "sandbox-dynamics", "ingest", "api"}
    assert set(order[5:]) == {"processor", "writer", "reconciler"}
    token_file = data_dir / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    for s in started:
        env = s["env"]
        assert env["DATASYNC_KAFKA_BOOTSTRAP"] == f"127.0.0.1:{settings.broker_port}"
        assert env["DATASYNC_DATABASE_URL"] == (
            f"postgresql://postgres@127.0.0.1:{settings.db_port}/datasync"
        )
        assert env["DATASYNC_KAFKA_IDEMPOTENCE"] == "false"
        assert env["DATASYNC_ADMIN_TOKEN"] == token_file.read_text().strip()
        assert env["DATASYNC_API_PORT"] == str(settings.api_port)
        assert env["DATASYNC_SANDBOX_DYNAMICS_PORT"] == str(settings.sandbox_dynamics_port)

    again = fake_stack(data_dir, fake_cli, free_ports, FAKE_CLI_LOG=str(log))
    async with again:
        assert again.admin_token == stack.admin_token, "the token is kept in the data dir"


async def test_stack_whose_migration_fails_stops_what_it_started(
    fake_cli: Path, tmp_path: Path, scratch_dir: Path, free_ports: FreePorts
) -> None:
    data_dir = scratch_dir / f"failing-{uuid.uuid4().hex[:8]}"
    stack = fake_stack(
        data_dir, fake_cli, free_ports, FAKE_CLI_LOG=str(tmp_path / "log"), FAKE_MIGRATE_EXIT="2"
    )
    with pytest.raises(ChildDied) as raised:
        await stack.start()
    assert (raised.value.name, raised.value.returncode) == ("migrate", 2)
    assert not listening(stack.settings.broker_port)
    assert not listening(stack.settings.db_port)
