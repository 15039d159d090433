"""The per-account request budget keeps under the app's limit instead of hitting it."""

import asyncio
import time

from services.connectors.http import RequestBudget


async def test_requests_beyond_the_budget_wait_for_the_window_to_move():
    budget = RequestBudget(max_requests=3, window_seconds=0.3)
    started = time.monotonic()
    for _ in range(3):
        await budget.acquire()
    assert budget.used() == 3
    await budget.acquire()
    assert time.monotonic() - started >= 0.29


async def test_the_budget_pauses_when_the_app_reports_its_limit_nearly_spent():
    budget = RequestBudget(max_requests=100, window_seconds=1.0, reserve=2)
    budget.observe(remaining=1, reset_seconds=2.0)
    started = time.monotonic()
    await budget.acquire()
    assert time.monotonic() - started >= 0.19


async def test_plenty_remaining_does_not_slow_the_budget_down():
    budget = RequestBudget(max_requests=100, window_seconds=1.0, reserve=2)
    budget.observe(remaining=50, reset_seconds=2.0)
    # Paused, this would wait 0.2 s; the generous timeout only guards against a pause.
    await asyncio.wait_for(budget.acquire(), 0.15)
    assert budget.used() == 1
