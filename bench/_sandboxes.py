"""The Dynamics 365 sandbox as a benchmark's subprocess: on a free port, with an organisation
seeded directly (no webhook, no request counted), its request budget lifted, and its request
counters read between measurements.

Benchmarks run as scripts (`python bench/<name>.py`), so this module is imported as
`_sandboxes`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from services.config import SandboxSettings
from services.devstack.supervisor import (
    ChildProcess,
    OutputSink,
    Supervisor,
    discard_output,
    free_ports,
    http_probe,
)

HOST = "127.0.0.1"
SEED_CHUNK = 10_000  # records per seeding request: one request of 50,000 is a 10 MB body
START_LIMIT = 60.0  # seconds for the sandbox to serve /healthz


class DynamicsSandbox:
    """`datasync sandbox-dynamics` on a free port, stopped on the way out."""

    def __init__(self, *, output: OutputSink = discard_output) -> None:
        (self.port,) = free_ports(1)
        self.url = f"http://{HOST}:{self.port}"
        self.token = SandboxSettings().sandbox_dynamics_token
        env = {
            **os.environ,
            "DATASYNC_SANDBOX_DYNAMICS_PORT": str(self.port),
            "DATASYNC_SANDBOX_DYNAMICS_TOKEN": self.token,
        }
        self.process = ChildProcess(
            "sandbox-dynamics",
            [sys.executable, "-m", "services.cli", "sandbox-dynamics"],
            env=env,
            ready=http_probe(f"{self.url}/healthz"),
            output=output,
        )
        self.supervisor = Supervisor()
        # The control API is loopback only: a proxy from the environment must not get in between.
        self.http = httpx.AsyncClient(base_url=self.url, timeout=120.0, trust_env=False)

    async def __aenter__(self) -> DynamicsSandbox:
        try:
            await self.supervisor.start(self.process, ready_within=START_LIMIT)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.supervisor.stop()

    def org_url(self, org: str) -> str:
        """What a connection's `base_url` is for this organisation."""
        return f"{self.url}/{org}"

    async def create_org(self, org: str) -> None:
        (await self.http.put(f"/_sandbox/orgs/{org}")).raise_for_status()

    async def seed(
        self, org: str, entity_set: str, records: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """Create the records as they are; their ids, in the order of `records`."""
        ids: list[str] = []
        for start in range(0, len(records), SEED_CHUNK):
            chunk = list(records[start : start + SEED_CHUNK])
            response = await self.http.post(f"/_sandbox/orgs/{org}/seed", json={entity_set: chunk})
            response.raise_for_status()
            ids += response.json()[entity_set]
        return ids

    async def set_limits(self, requests_per_window: int, window_seconds: float) -> None:
        body = {"requests_per_window": requests_per_window, "window_seconds": window_seconds}
        (await self.http.put("/_sandbox/limits", json=body)).raise_for_status()

    async def reset_counters(self) -> None:
        (await self.http.delete("/_sandbox/counters")).raise_for_status()

    async def counters(self, org: str) -> dict[str, Any]:
        """Requests by method and entity set, `$batch` operations, 429s; since the last reset."""
        response = await self.http.get("/_sandbox/counters", params={"org": org})
        response.raise_for_status()
        counters: dict[str, Any] = response.json()
        return counters
