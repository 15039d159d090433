"""`datasync token`: the control API's bearer tokens — create (shown once), list, revoke.

A token reads `dst_<id>_<secret>`: the id (public; `list` shows it) finds the token's row, the
secret (32 random bytes) makes it unguessable. Only the SHA-256 digest of the whole token is
stored: with that much entropy a slow password hash would add nothing.
"""

import argparse
import asyncio
import hashlib
import hmac
import re
import secrets
import sys
from datetime import datetime
from typing import Literal, get_args

import asyncpg

from services.config import DatabaseSettings, DevstackSettings
from services.store.repository import Store
from services.store.tokens import ApiToken, TokenNameTaken

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)

_PREFIX = "dst_"
_ID = re.compile(r"[0-9a-f]{12}")
_NAME = re.compile(r"[\w.@+-][\w .@+-]{0,99}")


def new_token() -> tuple[str, str]:
    """(id, token) of a new random token."""
    token_id = secrets.token_hex(6)
    return token_id, f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def id_of(token: str) -> str | None:
    """The id a token names, or None when it is not one `new_token` makes."""
    if not token.startswith(_PREFIX):
        return None
    token_id, sep, secret = token[len(_PREFIX) :].partition("_")
    return token_id if sep and secret and _ID.fullmatch(token_id) else None


def matches(token: str, stored_digest: bytes) -> bool:
    """Whether `token` is the one whose digest was stored; in constant time."""
    return hmac.compare_digest(digest(token), stored_digest)


async def create_token(store: Store, role: Role, name: str | None = None) -> tuple[ApiToken, str]:
    """Store a new token of `role`; the token itself is in the answer and nowhere else."""
    token_id, token = new_token()
    stored = await store.create_token(token_id, name or f"{role}-{token_id}", role, digest(token))
    return stored, token


# The command ---------------------------------------------------------------------------------


class CommandError(Exception):
    """A message for the person at the terminal, and exit status 1."""


def database_url() -> str:
    """DATASYNC_DATABASE_URL when set; otherwise the embedded database `make run` starts."""
    database = DatabaseSettings()
    if "database_url" in database.model_fields_set:
        return database.database_url
    # Imported here: only the embedded default needs to know how the devstack names its DSN.
    from services.devstack.database import EmbeddedPostgres

    devstack = DevstackSettings()
    return EmbeddedPostgres(devstack.data_dir, devstack.db_port).dsn


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "never"


def _table(tokens: list[ApiToken]) -> str:
    rows = [("ID", "NAME", "ROLE", "CREATED (UTC)", "LAST USED (UTC)")] + [
        (t.id, t.name, t.role, _when(t.created_at), _when(t.last_used_at)) for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def _act(store: Store, args: argparse.Namespace) -> None:
    if args.action == "create":
        if args.name is not None and not _NAME.fullmatch(args.name):
            raise CommandError(
                "datasync: a token name is 1-100 letters, digits, spaces and . @ + - _"
            )
        try:
            stored, token = await create_token(store, args.role, args.name)
        except TokenNameTaken:
            raise CommandError(f"datasync: a token named {args.name!r} exists already") from None
        print(token)
        print(
            f"created {stored.role} token {stored.name!r} (id {stored.id}); it is shown only"
            " this once: keep it now",
            file=sys.stderr,
        )
    elif args.action == "list":
        tokens = await store.list_tokens()
        print(_table(tokens) if tokens else "no tokens (the DATASYNC_ADMIN_TOKEN still works)")
    else:
        revoked = await store.revoke_token(args.token)
        if revoked is None:
            raise CommandError(f"datasync: no token is named or has the id {args.token!r}")
        print(f"revoked {revoked.role} token {revoked.name!r} (id {revoked.id})")


async def execute(args: argparse.Namespace, database_url: str) -> None:
    """Carry out `datasync token ACTION` against the state store at `database_url`."""
    try:
        store = await Store.connect(database_url, size=1)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        # Not the URL itself: it may hold a password.
        raise CommandError(
            f"datasync: cannot reach the state store ({type(exc).__name__}: {exc}); is the stack"
            " running (make run)? Otherwise set DATASYNC_DATABASE_URL"
        ) from None
    try:
        await _act(store, args)
    except asyncpg.UndefinedTableError:
        raise CommandError(
            "datasync: the state store has no token table yet: run `datasync migrate`"
        ) from None
    finally:
        await store.close()


def run(args: argparse.Namespace) -> None:
    try:
        asyncio.run(execute(args, database_url()))
    except CommandError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
