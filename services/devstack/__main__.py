"""`make run`: the whole stack on loopback, seeded with the demo, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

import httpx

from services.config import StackSettings
from services.devstack import demo
from services.devstack.stack import Stack
from services.devstack.supervisor import (
    ChildDied,
    PortInUseError,
    StartTimeout,
    check_ports_free,
    print_prefixed,
)


class DemoFailed(RuntimeError):
    pass


class _Console:
    """Prints the children's lines, remembering when the last one came."""

    def __init__(self) -> None:
        self.last_line = time.monotonic()

    def __call__(self, name: str, line: str) -> None:
        self.last_line = time.monotonic()
        print_prefixed(name, line)

    async def settle(self, quiet_for: float, at_most: float) -> None:
        """Wait for a pause in the start-up chatter, so the banner is not scrolled away."""
        deadline = time.monotonic() + at_most
        while True:
            now = time.monotonic()
            if now >= deadline or now - self.last_line >= quiet_for:
                return
            await asyncio.sleep(min(self.last_line + quiet_for, deadline) - now)


def main() -> int:
    console = _Console()
    stack = Stack(StackSettings(), output=console)
    try:
        check_ports_free(stack.ports())
    except PortInUseError as exc:
        print(exc, file=sys.stderr)
        return 1
    return asyncio.run(_run(stack, console))


async def _run(stack: Stack, console: _Console) -> int:
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()

    def on_signal() -> None:
        if signalled.is_set():
            # A second Ctrl-C: the user does not want to wait for graceful exits.
            stack.supervisor.kill()
        signalled.set()

    # SIGHUP too: the children run in their own sessions, so a closed terminal reaches only us.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal)

    serving = asyncio.create_task(_serve(stack, console))
    waiting = asyncio.create_task(signalled.wait())
    code = 0
    try:
        await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            _say("\ndatasync: stopping (Ctrl-C again to kill)")
            serving.cancel()
        try:
            await serving
        except asyncio.CancelledError:
            pass
        except (ChildDied, StartTimeout, DemoFailed) as exc:
            _say(str(exc))
            code = 1
    finally:
        waiting.cancel()
        await stack.stop()
    _say("datasync: stopped")
    return code


def _say(text: str) -> None:
    # stderr may be a pipe whose reader died with the same Ctrl-C; stopping matters more.
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


async def _serve(stack: Stack, console: _Console) -> None:
    await stack.start()
    try:
        connection_id = await demo.bootstrap(
            stack.api_url,
            stack.admin_token,
            stack.hubspot_url,
            stack.dynamics_url,
            stack.ingest_url,
        )
    except httpx.HTTPError as exc:
        raise DemoFailed(f"datasync: setting up the demo failed: {exc}") from exc
    await console.settle(quiet_for=1.5, at_most=10)
    _print_banner(stack, connection_id)
    await stack.watch()


def _print_banner(stack: Stack, connection_id: str) -> None:
    if stack.admin_token_file is None:
        stored = "from DATASYNC_ADMIN_TOKEN"
    else:
        stored = f"stored in {stack.admin_token_file}"
    broker = "embedded Tansu, memory only" if stack.embedded_broker else "external"
    if stack.database is not None:
        database = f"embedded, data in {stack.database.pgdata}"
    else:
        database = "external"
    lines = [
        "",
        "datasync is running",
        f"  Dashboard:         {stack.dashboard_url}",
        f"  API:               {stack.api_url}/v1",
        f"  Admin token:       {stack.admin_token}  ({stored})",
        f"  HubSpot sandbox:   {stack.hubspot_url}",
        f"  Dynamics sandbox:  {stack.dynamics_url}/demo/api/data/v9.2/"
        f"  and {stack.dynamics_url}/demo2/api/data/v9.2/",
        f"  Webhook ingest:    {stack.ingest_url}",
        f"  Kafka:             {stack.kafka_bootstrap} ({broker})",
        f"  PostgreSQL:        {stack.database_url} ({database})",
    ]
    if connection_id:
        lines.append(f"  Demo connection:   {connection_id}")
    lines += ["Press Ctrl-C to stop", ""]
    with contextlib.suppress(BrokenPipeError):
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
