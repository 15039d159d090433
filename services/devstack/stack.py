"""The whole datasync stack as child processes: what `make run` and the end-to-end tests start.

Start order is dependency order (database, broker, migrate, sandboxes and HTTP services, then
the stream workers); the supervisor stops in the reverse order.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from services.config import StackSettings
from services.devstack.broker import EmbeddedBroker
from services.devstack.database import EmbeddedPostgres
from services.devstack.supervisor import (
    ChildProcess,
    OutputSink,
    PortSpec,
    Supervisor,
    http_probe,
    print_prefixed,
)

SERVICE_COMMAND = (sys.executable, "-m", "services.cli")
HOST = "127.0.0.1"


class Stack:
    """Starts and stops every datasync process for one settings object.

    An explicitly set `kafka_bootstrap` / `database_url` (environment or argument) means an
    existing Kafka / PostgreSQL, and nothing embedded is started for it.
    """

    def __init__(
        self,
        settings: StackSettings,
        *,
        output: OutputSink = print_prefixed,
        extra_env: Mapping[str, str] | None = None,
        service_command: Sequence[str] = SERVICE_COMMAND,
        durable_database: bool = True,
    ) -> None:
        """`extra_env` is added to every service's environment (e.g. shorter intervals in
        tests); `service_command` is what a service name is appended to."""
        self.settings = settings
        self.output = output
        self.extra_env = dict(extra_env or {})
        self.service_command = list(service_command)
        self.data_dir = settings.data_dir.expanduser().resolve()
        self.supervisor = Supervisor(stop_timeout=settings.devstack_stop_timeout)
        self.embedded_broker = "kafka_bootstrap" not in settings.model_fields_set
        self.embedded_database = "database_url" not in settings.model_fields_set
        self.broker = (
            EmbeddedBroker(
                settings.broker_port, output=output, stop_timeout=settings.devstack_stop_timeout
            )
            if self.embedded_broker
            else None
        )
        self.database = (
            EmbeddedPostgres(
                self.data_dir,
                settings.db_port,
                durable=durable_database,
                output=output,
                stop_timeout=settings.devstack_stop_timeout,
            )
            if self.embedded_database
            else None
        )
        self.kafka_bootstrap = self.broker.bootstrap if self.broker else settings.kafka_bootstrap
        self.database_url = self.database.dsn if self.database else settings.database_url
        self.admin_token = ""
        self.admin_token_file: Path | None = None
        """Where the admin token is kept; None when it came from DATASYNC_ADMIN_TOKEN."""

    @property
    def api_url(self) -> str:
        """Base of the status API; its routes are under /v1."""
        return f"http://{HOST}:{self.settings.api_port}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.api_url}/dashboard"

    @property
    def ingest_url(self) -> str:
        return f"http://{HOST}:{self.settings.ingest_port}"

    @property
    def hubspot_url(self) -> str:
        return f"http://{HOST}:{self.settings.sandbox_hubspot_port}"

    @property
    def dynamics_url(self) -> str:
        """Base of the Dynamics sandbox; each organisation is under /{org}/api/data/v9.2/."""
        return f"http://{HOST}:{self.settings.sandbox_dynamics_port}"

    def ports(self) -> list[PortSpec]:
        """Every port this stack will listen on, with the variable that moves it."""
        s = self.settings
        ports = [
            PortSpec(s.api_port, "status API", "DATASYNC_API_PORT"),
            PortSpec(s.ingest_port, "webhook ingest", "DATASYNC_INGEST_PORT"),
            PortSpec(s.sandbox_hubspot_port, "HubSpot sandbox", "DATASYNC_SANDBOX_HUBSPOT_PORT"),
            PortSpec(s.sandbox_dynamics_port, "Dynamics sandbox", "DATASYNC_SANDBOX_DYNAMICS_PORT"),
        ]
        if self.embedded_broker:
            ports.append(PortSpec(s.broker_port, "embedded broker", "DATASYNC_BROKER_PORT"))
        if self.embedded_database:
            ports.append(PortSpec(s.db_port, "embedded PostgreSQL", "DATASYNC_DB_PORT"))
        return ports

    def service_env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "DATASYNC_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
                "DATASYNC_DATABASE_URL": self.database_url,
                # The embedded broker has no idempotent producers (InitProducerId fails).
                "DATASYNC_KAFKA_IDEMPOTENCE": "false"
                if self.embedded_broker
                else str(s.kafka_idempotence).lower(),
                "DATASYNC_API_PORT": str(s.api_port),
                "DATASYNC_INGEST_PORT": str(s.ingest_port),
                "DATASYNC_SANDBOX_HUBSPOT_PORT": str(s.sandbox_hubspot_port),
                "DATASYNC_SANDBOX_DYNAMICS_PORT": str(s.sandbox_dynamics_port),
                "DATASYNC_BROKER_PORT": str(s.broker_port),
                "DATASYNC_DB_PORT": str(s.db_port),
                "DATASYNC_DATA_DIR": str(self.data_dir),
                "DATASYNC_ADMIN_TOKEN": self.admin_token,
                # Lines must reach the supervisor as they are written, not when a buffer fills.
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    async def start(self) -> None:
        """Start everything and wait until it serves; on any failure stop what was started."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.supervisor.stop()

    async def watch(self) -> None:
        """Return once stopped; raise ChildDied as soon as any process exits on its own."""
        await self.supervisor.watch()

    def check(self) -> None:
        """Raise ChildDied if any process has exited (for test fixtures between tests)."""
        self.supervisor.check()

    async def __aenter__(self) -> Stack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _start(self) -> None:
        within = self.settings.devstack_start_timeout
        self.admin_token, self.admin_token_file = self._resolve_admin_token()
        if self.database is not None:
            await self.database.start(self.supervisor, ready_within=within)
            initdb = self.database.initdb_seconds
            self._say(
                f"PostgreSQL ready in {self.database.startup_seconds:.2f} s"
                + (f" (of which initdb {initdb:.2f} s)" if initdb is not None else "")
            )
        if self.broker is not None:
            await self.broker.start(self.supervisor, ready_within=within)
            self._say(f"broker ready in {self.broker.startup_seconds:.2f} s")
        started = time.monotonic()
        await self.supervisor.run(self._service("migrate"), within=within)
        self._say(f"migrations applied in {time.monotonic() - started:.2f} s")
        started = time.monotonic()
        # Independent of each other, so they start together: on two cores that roughly halves
        # the time spent importing FastAPI four times over.
        s = self.settings
        await self.supervisor.start(
            self._service("sandbox-hubspot", health_port=s.sandbox_hubspot_port),
            self._service("sandbox-dynamics", health_port=s.sandbox_dynamics_port),
            self._service("ingest", health_port=s.ingest_port),
            self._service("api", health_port=s.api_port),
            ready_within=within,
        )
        self._say(f"sandboxes, ingest and API healthy in {time.monotonic() - started:.2f} s")
        await self.supervisor.start(
            self._service("processor"),
            self._service("writer"),
            self._service("reconciler"),
            ready_within=within,
        )

    def _service(self, name: str, *, health_port: int | None = None) -> ChildProcess:
        return ChildProcess(
            name,
            [*self.service_command, name],
            env=self.service_env(),
            ready=http_probe(f"http://{HOST}:{health_port}/healthz") if health_port else None,
            output=self.output,
        )

    def _resolve_admin_token(self) -> tuple[str, Path | None]:
        if self.settings.admin_token:
            return self.settings.admin_token, None
        path = self.data_dir / "admin-token"
        if path.exists():
            token = path.read_text().strip()
            if token:
                return token, path
        token = secrets.token_urlsafe(32)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: a chmod after writing would leave a window.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        path.chmod(0o600)  # in case an empty file was there with looser permissions
        return token, path

    def _say(self, line: str) -> None:
        self.output("devstack", line)
