"""Versioned SQL migrations, applied in order, each once, under an advisory lock so that
services starting together do not race."""

import argparse
import asyncio
import logging
import re
from importlib import resources

import asyncpg

from services.config import DatabaseSettings
from services.logs import setup_logging

log = logging.getLogger(__name__)

_LOCK_ID = 0x64617461  # "data": any constant shared by every datasync process
_NAME = re.compile(r"^(\d+)_[\w-]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every packaged migration, in version order."""
    found = []
    for entry in resources.files("services.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not applied yet; returns the names applied."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied.append(name)
            log.info("applied migration %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied


async def migrate(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> None:
    setup_logging()
    applied = asyncio.run(migrate(DatabaseSettings().database_url))
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
