"""Child processes of the embedded stack: start, readiness, output, death watch and shutdown.

Every child runs in its own process group, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in reverse start order (dependants before what
they depend on), and a SIGKILL of a group also takes any grandchildren with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import httpx
import psutil

Probe = Callable[[], Awaitable[bool]]
"""One readiness attempt: True once the child serves, False (or an exception) while not yet."""

OutputSink = Callable[[str, str], None]
"""Receives every output line of a child: (child name, line without newline)."""

TAIL_LINES = 40
_READ_LIMIT = 1 << 20  # a child may log long lines (stack dumps, JSON); asyncio's default is 64 KiB
_POLL_SECONDS = 0.05


def print_prefixed(name: str, line: str) -> None:
    # A closed stdout (the pager or `tee` died with the Ctrl-C) must not stop the stopping.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write(f"{name:>16} | {line}\n")
        sys.stdout.flush()


def discard_output(name: str, line: str) -> None:
    """For tests: the last lines stay in each child's tail for error reports."""


def http_probe(url: str) -> Probe:
    async def probe() -> bool:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            response = await client.get(url)
        return response.status_code == 200

    return probe


class ChildDied(RuntimeError):
    """A child exited while the stack was supposed to be running (or a one-shot child failed)."""

    def __init__(self, name: str, returncode: int, tail: Sequence[str]) -> None:
        self.name = name
        self.returncode = returncode
        self.tail = list(tail)
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-self.returncode).name}"
            except ValueError:
                how = f"was killed by signal {-self.returncode}"
        else:
            how = f"exited with code {self.returncode}"
        lines = [f"datasync: {self.name} {how}"]
        if self.tail:
            lines.append(f"last output of {self.name}:")
            lines.extend(f"  {line}" for line in self.tail)
        return "\n".join(lines)


class StartTimeout(RuntimeError):
    def __init__(self, name: str, seconds: float, tail: Sequence[str]) -> None:
        lines = [f"datasync: {name} did not become ready within {seconds:.0f} s"]
        if tail:
            lines.append(f"last output of {name}:")
            lines.extend(f"  {line}" for line in tail)
        super().__init__("\n".join(lines))


class ChildProcess:
    """One child: its command, how to tell it is ready, and how to stop it."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        user: str | None = None,
        ready: Probe | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        output: OutputSink = print_prefixed,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.ready = ready
        self.stop_signal = stop_signal
        self.output = output
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._waiter: asyncio.Task[int] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        """None while running (or never started)."""
        if self._waiter is None or not self._waiter.done() or self._waiter.cancelled():
            return None
        return self._waiter.result()

    @property
    def running(self) -> bool:
        return self._proc is not None and self.returncode is None

    async def start(self) -> None:
        ids: dict[str, object] = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            ids = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            limit=_READ_LIMIT,
            **ids,  # type: ignore[arg-type]
        )
        self._pump = asyncio.create_task(self._read_output(self._proc), name=f"{self.name}-out")
        self._waiter = asyncio.create_task(self._wait(self._proc), name=f"{self.name}-wait")

    async def wait(self) -> int:
        assert self._waiter is not None, f"{self.name} was never started"
        return await asyncio.shield(self._waiter)

    async def stop(self, grace: float) -> None:
        """Ask politely, then kill the whole process group; idempotent."""
        if self._proc is None or self._waiter is None:
            return
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(self.stop_signal)
            try:
                await asyncio.wait_for(asyncio.shield(self._waiter), grace)
            except TimeoutError:
                self._emit(f"[still running {grace:.0f} s after {self.stop_signal.name}; killing]")
                self.kill()
        await self._waiter
        # Grandchildren that outlived their parent would keep ports and the output pipe open.
        if self.kill():
            await _wait_group_gone(self._proc.pid, grace)

    def kill(self) -> bool:
        """SIGKILL the child's process group; False when nothing was left in it."""
        if self._proc is None:
            return False
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # a line over the limit: asyncio dropped it, keep reading
                continue
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            self._emit(line)

    def _emit(self, line: str) -> None:
        # The pipe must be drained and the children stopped whatever the sink does.
        with contextlib.suppress(Exception):
            self.output(self.name, line)

    async def _wait(self, proc: asyncio.subprocess.Process) -> int:
        code = await proc.wait()
        assert self._pump is not None
        # Let the last lines (usually the reason it died) reach the tail; a grandchild holding
        # the pipe open must not block the report, so the wait is bounded.
        _, pending = await asyncio.wait({self._pump}, timeout=2.0)
        for task in pending:
            task.cancel()
        return code


class Supervisor:
    """Children started in groups; a group is stopped together, groups in reverse order."""

    def __init__(self, *, stop_timeout: float = 10.0) -> None:
        self.stop_timeout = stop_timeout
        self._groups: list[list[ChildProcess]] = []
        self._stopping = False

    @property
    def children(self) -> list[ChildProcess]:
        return [child for group in self._groups for child in group]

    async def start(self, *children: ChildProcess, ready_within: float = 60.0) -> None:
        """Start children together and wait until each one's probe passes.

        Raises ChildDied when any supervised child (not only these) exits meanwhile, and
        StartTimeout when one is not ready in time; the caller then stops the supervisor.
        """
        group = list(children)
        self._groups.append(group)
        for child in group:
            await child.start()
        await _all_or_nothing([self._wait_ready(child, ready_within) for child in group])

    async def run(self, child: ChildProcess, *, within: float = 120.0) -> None:
        """Run a one-shot child (such as migrate) to completion; ChildDied unless it exits 0."""
        await child.start()
        try:
            code = await asyncio.wait_for(child.wait(), within)
        except TimeoutError:
            await child.stop(self.stop_timeout)
            raise StartTimeout(child.name, within, child.tail) from None
        except BaseException:
            await child.stop(self.stop_timeout)
            raise
        if code != 0:
            raise ChildDied(child.name, code, child.tail)

    def check(self) -> None:
        """Raise ChildDied for the first supervised child that has exited."""
        if self._stopping:
            return
        for child in self.children:
            code = child.returncode
            if code is not None:
                raise ChildDied(child.name, code, child.tail)

    async def watch(self) -> None:
        """Raise ChildDied as soon as any child exits; return if that exit came from stop()."""
        waits = [asyncio.ensure_future(child.wait()) for child in self.children]
        if not waits:
            return
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        self.check()

    async def stop(self) -> None:
        """Stop every child, groups in reverse start order; idempotent."""
        self._stopping = True
        failures: list[BaseException] = []
        for group in reversed(self._groups):
            # One child failing to stop must not leave the groups after it running.
            results = await asyncio.gather(
                *(child.stop(self.stop_timeout) for child in group), return_exceptions=True
            )
            failures += [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    def kill(self) -> None:
        """Second Ctrl-C: no more waiting for graceful exits."""
        for child in self.children:
            child.kill()

    async def _wait_ready(self, child: ChildProcess, ready_within: float) -> None:
        deadline = time.monotonic() + ready_within
        while True:
            self.check()
            if child.ready is None:
                return
            with contextlib.suppress(Exception):
                if await asyncio.wait_for(child.ready(), max(0.1, deadline - time.monotonic())):
                    return
            if time.monotonic() >= deadline:
                raise StartTimeout(child.name, ready_within, child.tail)
            await asyncio.sleep(_POLL_SECONDS)


async def _wait_group_gone(pgid: int, within: float) -> None:
    """Until the killed group's members are gone (so their ports are free), or `within` passes.

    Zombies count as gone: they hold no sockets, and reaping them is their new parent's job.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_in_group(proc, pgid) for proc in psutil.process_iter(["status"])):
            return
        await asyncio.sleep(_POLL_SECONDS)


def _in_group(proc: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE
    except (ProcessLookupError, psutil.Error):
        return False


async def _all_or_nothing(coros: Sequence[Awaitable[None]]) -> None:
    """Like gather, but the first failure cancels the rest instead of leaving them polling."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class PortSpec:
    port: int
    label: str
    env_var: str


class PortInUseError(RuntimeError):
    """Its message is one line meant for the user, not a traceback."""


def check_ports_free(ports: Iterable[PortSpec], host: str = "127.0.0.1") -> None:
    """Fail on the first port something already listens on, naming the variable that moves it."""
    for spec in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # The servers set SO_REUSEADDR too, so a port held only by TIME_WAIT connections of a
            # previous run is free for them and must not be reported.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, spec.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise PortInUseError(
                    f"datasync: port {spec.port} ({spec.label}) is already in use; "
                    f"set {spec.env_var} to use another port"
                ) from None


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct ports nothing listens on now (all held at once so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]
