"""The one executor of classified errors: sends a request within the account's request budget
and retries what the classification says to retry."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from services.connectors.errors import (
    Action,
    Category,
    ConnectorError,
    ErrorResolution,
    classify_status,
)

log = logging.getLogger(__name__)


class RequestBudget:
    """A rolling-window request budget per account: callers wait for a slot instead of
    spending the app's limit and collecting 429s.

    Other processes spend the same account's limit, so the budget also follows what the app
    reports as remaining: when that falls to `reserve`, it pauses for a tenth of the window (a
    rolling window frees slots as it moves) and looks again at the next answer.
    """

    def __init__(self, max_requests: int, window_seconds: float, reserve: int = 2) -> None:
        self.max_requests = max_requests
        self.window = window_seconds
        self.reserve = reserve
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self.window - (now - self._sent[0]) + 0.001)

    def observe(self, remaining: int | None, reset_seconds: float | None = None) -> None:
        """What the app said is left of its limit (rate-limit headers), if it says."""
        if remaining is not None and remaining <= self.reserve:
            pause = (reset_seconds if reset_seconds is not None else self.window) / 10
            self._paused_until = max(self._paused_until, time.monotonic() + pause)

    def used(self) -> int:
        now = time.monotonic()
        return sum(1 for t in self._sent if now - t < self.window)


Classifier = Callable[[httpx.Response], ErrorResolution]
# Reads an app's rate-limit headers: (requests remaining, seconds until the window frees some).
LimitReader = Callable[[httpx.Response], tuple[int | None, float | None]]


def no_limits(_: httpx.Response) -> tuple[int | None, float | None]:
    return None, None


def default_classifier(response: httpx.Response) -> ErrorResolution:
    retry_after = response.headers.get("Retry-After")
    return classify_status(
        response.status_code,
        f"{response.status_code}: {response.text[:500]}",
        float(retry_after) if retry_after and retry_after.replace(".", "").isdigit() else None,
    )


class ApiClient:
    """An httpx client bound to one account, its budget and its error classifier."""

    def __init__(
        self,
        base_url: str,
        token: str,
        budget: RequestBudget,
        classify: Classifier = default_classifier,
        max_attempts: int = 6,
        timeout: float = 30.0,
        limits: LimitReader = no_limits,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        self.budget = budget
        self.classify = classify
        self.limits = limits
        self.max_attempts = max_attempts
        self.requests_sent = 0  # every request put on the wire, retries and refusals included

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The response when 2xx; raises ConnectorError with the resolution otherwise."""
        backoff = 0.5
        for attempt in range(1, self.max_attempts + 1):
            await self.budget.acquire()
            self.requests_sent += 1
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                resolution = ErrorResolution(
                    Action.RETRY, Category.UNAVAILABLE, f"{type(exc).__name__}: {exc}", backoff
                )
            else:
                self.budget.observe(*self.limits(response))
                if response.is_success:
                    return response
                resolution = self.classify(response)
            if resolution.action is Action.FAIL or attempt == self.max_attempts:
                raise ConnectorError(resolution)
            wait = max(resolution.wait_seconds, backoff)
            log.warning("%s %s: %s; retrying in %.1fs", method, url, resolution.message, wait)
            await asyncio.sleep(wait)
            backoff = min(backoff * 2, 30.0)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self.http.aclose()
