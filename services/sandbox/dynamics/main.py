"""`datasync sandbox-dynamics`: serves the Dynamics 365 sandbox on loopback."""

import argparse

import uvicorn

from services.config import SandboxSettings
from services.sandbox.dynamics.app import create_app


def run(args: argparse.Namespace) -> None:
    settings = SandboxSettings()
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=settings.sandbox_dynamics_port,
        log_level="warning",
    )
