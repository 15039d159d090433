"""`datasync <service>`: the one command every deployable starts from.

Each service module exposes `run(args)`; imports are lazy so that `datasync api` does not load
Faust and `datasync --help` is instant.
"""

import argparse
import importlib
import sys

from schemas.objects import OBJECT_TYPES

SERVICES = {
    "ingest": ("services.ingest.main", "Webhook ingest: verifies webhooks, publishes changes"),
    "processor": ("services.processor.main", "Stream processor: rules, matching, conflicts"),
    "writer": ("services.writer.main", "Writer: batches commands into a target's API"),
    "reconciler": ("services.reconciler.main", "Polls for missed changes, runs initial syncs"),
    "api": ("services.status_api.main", "Status and control API, dashboard"),
    "migrate": ("services.store.migrate", "Apply the state store's SQL migrations and exit"),
    "sandbox-hubspot": ("services.sandbox.hubspot.main", "Emulated HubSpot API"),
    "sandbox-dynamics": ("services.sandbox.dynamics.main", "Emulated Dynamics 365 Web API"),
    "progress": ("services.cli_progress", "Progress bars of a connection's initial syncs"),
    "token": ("services.tokens", "Create, list and revoke the control API's bearer tokens"),
}
TOKEN_ROLES = ("admin", "viewer")  # services.tokens.ROLES, without importing it for --help


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datasync", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="service", required=True, metavar="SERVICE")
    for name, (_, help_text) in SERVICES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name in ("processor", "writer", "reconciler"):
            p.add_argument(
                "--object",
                action="append",
                choices=OBJECT_TYPES,
                dest="objects",
                help="Object type to handle (repeatable); all object types when omitted",
            )
        if name == "progress":
            p.add_argument("connection_id", help="The connection whose syncs to follow")
            p.add_argument(
                "--object",
                action="append",
                choices=OBJECT_TYPES,
                dest="objects",
                help="Object to follow (repeatable); every object the connection syncs when omitted",
            )
            p.add_argument(
                "--api",
                help="Base URL of the status API (default: http://127.0.0.1:$DATASYNC_API_PORT)",
            )
            p.add_argument(
                "--token",
                help="Bearer token (default: $DATASYNC_ADMIN_TOKEN, else .datasync/admin-token)",
            )
            p.add_argument("--interval", type=float, default=1.0, help="Seconds between looks")
        if name == "token":
            _token_arguments(p)
        if name == "writer":
            p.add_argument(
                "--target",
                action="append",
                choices=["hubspot", "app"],
                dest="targets",
                help="Target side to write to (repeatable); both when omitted",
            )
    return parser


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser(
        "create",
        help="Create a token and print it, this once only",
        description="Create a token and print it, this once only; only its digest is stored",
    )
    create.add_argument(
        "--role", required=True, choices=TOKEN_ROLES, help="admin may change things, viewer reads"
    )
    create.add_argument("--name", help="A unique name to list and revoke it by (default ROLE-ID)")
    sub.add_parser(
        "list",
        help="The tokens: id, name, role, created, last used",
        description="The tokens: id, name, role, created, last used (never the tokens themselves)",
    )
    revoke = sub.add_parser(
        "revoke",
        help="Revoke a token by name or id",
        description="Revoke a token by name or id; the API refuses it within a second or two",
    )
    revoke.add_argument("token", metavar="NAME_OR_ID", help="The token's name, or else its id")


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(SERVICES[args.service][0])
    module.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
