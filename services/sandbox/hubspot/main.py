"""`datasync sandbox-hubspot`: serve the emulated HubSpot API on loopback."""

import argparse

import uvicorn

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app


def run(args: argparse.Namespace) -> None:
    settings = SandboxSettings()
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=settings.sandbox_hubspot_port,
        log_level="warning",
    )
