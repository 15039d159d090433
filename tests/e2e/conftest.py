"""End-to-end fixtures: the whole stack, polled by the reconciler every two seconds so that
its look at datasync's own writes is part of every test."""

import pytest


@pytest.fixture(scope="session")
def datasync_stack_env() -> dict[str, str]:
    return {"DATASYNC_RECONCILE_INTERVAL_SECONDS": "2", "DATASYNC_RETRY_BASE_SECONDS": "1"}
