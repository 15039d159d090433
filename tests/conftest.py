"""Session fixtures: the real broker and database, a whole stack for end-to-end tests, free ports.

`DATASYNC_KAFKA_BOOTSTRAP` / `DATASYNC_DATABASE_URL`, when set, point the tests at an existing
Kafka / PostgreSQL instead of the embedded ones (as in CI against real Kafka).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.config import DatabaseSettings, KafkaSettings, StackSettings
from services.devstack.broker import EmbeddedBroker
from services.devstack.database import EmbeddedPostgres
from services.devstack.stack import Stack
from services.devstack.supervisor import discard_output
from services.devstack.supervisor import free_ports as _free_ports


def _to_stderr(name: str, line: str) -> None:
    sys.stderr.write(f"{name:>16} | {line}\n")


@pytest.fixture(scope="session")
def free_ports() -> Callable[[int], list[int]]:
    """`free_ports(n)`: n distinct loopback ports that nothing listens on."""
    return _free_ports


@pytest.fixture(scope="session")
def scratch_dir() -> Iterator[Path]:
    """A session-wide directory removed at the end.

    Not pytest's tmp_path: it keeps the last runs' directories, and each database is ~40 MB.
    """
    path = Path(tempfile.mkdtemp(prefix="datasync-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def broker_bootstrap() -> AsyncIterator[str]:
    """Bootstrap address of a Kafka-protocol broker for the session: "127.0.0.1:PORT"."""
    settings = KafkaSettings()
    if "kafka_bootstrap" in settings.model_fields_set:
        yield settings.kafka_bootstrap
        return
    (port,) = _free_ports(1)
    async with EmbeddedBroker(port, output=discard_output) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def kafka_idempotence() -> bool:
    """What producers in tests should use: the embedded broker has no idempotent producers."""
    settings = KafkaSettings()
    return "kafka_bootstrap" in settings.model_fields_set and settings.kafka_idempotence


@pytest_asyncio.fixture(scope="session")
async def database_url(scratch_dir: Path) -> AsyncIterator[str]:
    """DSN of a PostgreSQL database for the session (an empty `datasync` database)."""
    settings = DatabaseSettings()
    if "database_url" in settings.model_fields_set:
        yield settings.database_url
        return
    (port,) = _free_ports(1)
    async with EmbeddedPostgres(
        scratch_dir / "database", port, durable=False, output=discard_output
    ) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def datasync_stack_env() -> dict[str, str]:
    """Extra environment for every service of `datasync_stack`; override it in a conftest
    closer to the tests (e.g. a shorter reconcile interval)."""
    return {}


@pytest_asyncio.fixture(scope="session")
async def datasync_stack(
    scratch_dir: Path, datasync_stack_env: dict[str, str]
) -> AsyncIterator[Stack]:
    """The whole stack on free ports, with its own broker and database, for end-to-end tests.

    Its URLs and admin token are attributes (`api_url`, `hubspot_url`, `dynamics_url`,
    `ingest_url`, `admin_token`); `check()` raises if a service has died meanwhile. The
    services' output goes to stderr, so pytest shows it under each failed test.
    """
    api, ingest, hubspot, dynamics, broker, db = _free_ports(6)
    settings = StackSettings(
        data_dir=scratch_dir / "stack",
        api_port=api,
        ingest_port=ingest,
        sandbox_hubspot_port=hubspot,
        sandbox_dynamics_port=dynamics,
        broker_port=broker,
        db_port=db,
    )
    stack = Stack(settings, output=_to_stderr, extra_env=datasync_stack_env, durable_database=False)
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()
