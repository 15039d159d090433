"""Every query of the state store. asyncpg is used here and nowhere else."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.events import Side
from schemas.settings import SyncSettings, SyncState
from services.store.links import LinkQueries
from services.store.metrics import MetricQueries
from services.store.tokens import TokenQueries
from services.store.views import ViewQueries


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@dataclass(frozen=True)
class HubSpotAccount:
    base_url: str
    access_token: str
    app_secret: str
    portal_id: str | None
    app_id: str | None


@dataclass(frozen=True)
class Connection:
    id: str
    app: str
    name: str
    base_url: str
    credentials: dict[str, Any]
    webhook_key: str
    app_user_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Sync:
    connection_id: str
    object_type: str
    settings: SyncSettings
    state: SyncState
    progress: dict[str, Any]
    updated_at: datetime


class Store(LinkQueries, ViewQueries, TokenQueries, MetricQueries):
    """Every query, over one connection pool; link queries live in `links.py`, the status
    API's read models in `views.py`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, database_url: str, size: int = 5) -> "Store":
        pool = await asyncpg.create_pool(
            database_url, min_size=1, max_size=size, init=_init_connection
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    # HubSpot account ------------------------------------------------------------------------

    async def put_hubspot(self, account: HubSpotAccount) -> None:
        await self.pool.execute(
            "INSERT INTO hubspot_account (id, base_url, access_token, app_secret, portal_id, app_id)"
            " VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET base_url = $1,"
            " access_token = $2, app_secret = $3, portal_id = $4, app_id = $5, updated_at = now()",
            account.base_url,
            account.access_token,
            account.app_secret,
            account.portal_id,
            account.app_id,
        )

    async def get_hubspot(self) -> HubSpotAccount | None:
        row = await self.pool.fetchrow(
            "SELECT base_url, access_token, app_secret, portal_id, app_id FROM hubspot_account"
        )
        return HubSpotAccount(**dict(row)) if row else None

    # Connections ----------------------------------------------------------------------------

    async def create_connection(self, conn: Connection) -> None:
        await self.pool.execute(
            "INSERT INTO connections (id, app, name, base_url, credentials, webhook_key,"
            " app_user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            conn.id,
            conn.app,
            conn.name,
            conn.base_url,
            conn.credentials,
            conn.webhook_key,
            conn.app_user_id,
            conn.created_at,
        )

    async def list_connections(self) -> list[Connection]:
        rows = await self.pool.fetch("SELECT * FROM connections ORDER BY created_at, id")
        return [Connection(**dict(r)) for r in rows]

    async def get_connection(self, connection_id: str) -> Connection | None:
        row = await self.pool.fetchrow("SELECT * FROM connections WHERE id = $1", connection_id)
        return Connection(**dict(row)) if row else None

    async def delete_connection(self, connection_id: str) -> bool:
        result = await self.pool.execute("DELETE FROM connections WHERE id = $1", connection_id)
        return bool(result.endswith(" 1"))

    # Syncs ----------------------------------------------------------------------------------

    @staticmethod
    def _sync(row: asyncpg.Record) -> Sync:
        return Sync(
            connection_id=row["connection_id"],
            object_type=row["object_type"],
            settings=SyncSettings.model_validate(row["settings"]),
            state=SyncState(row["state"]),
            progress=row["progress"],
            updated_at=row["updated_at"],
        )

    async def put_sync(self, connection_id: str, object_type: str, settings: SyncSettings) -> Sync:
        row = await self.pool.fetchrow(
            "INSERT INTO syncs (connection_id, object_type, settings) VALUES ($1, $2, $3)"
            " ON CONFLICT (connection_id, object_type) DO UPDATE SET settings = $3,"
            " updated_at = now() RETURNING *",
            connection_id,
            object_type,
            settings.model_dump(mode="json"),
        )
        return self._sync(row)

    async def get_sync(self, connection_id: str, object_type: str) -> Sync | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM syncs WHERE connection_id = $1 AND object_type = $2",
            connection_id,
            object_type,
        )
        return self._sync(row) if row else None

    async def list_syncs(
        self, object_type: str | None = None, states: Iterable[SyncState] | None = None
    ) -> list[Sync]:
        rows = await self.pool.fetch(
            "SELECT * FROM syncs WHERE ($1::text IS NULL OR object_type = $1)"
            " AND ($2::text[] IS NULL OR state = ANY($2)) ORDER BY connection_id, object_type",
            object_type,
            [s.value for s in states] if states is not None else None,
        )
        return [self._sync(r) for r in rows]

    async def set_sync_state(
        self, connection_id: str, object_type: str, state: SyncState
    ) -> Sync | None:
        row = await self.pool.fetchrow(
            "UPDATE syncs SET state = $3, updated_at = now()"
            " WHERE connection_id = $1 AND object_type = $2 RETURNING *",
            connection_id,
            object_type,
            state.value,
        )
        return self._sync(row) if row else None

    async def set_progress(
        self, connection_id: str, object_type: str, progress: dict[str, Any]
    ) -> None:
        await self.pool.execute(
            "UPDATE syncs SET progress = $3 WHERE connection_id = $1 AND object_type = $2",
            connection_id,
            object_type,
            progress,
        )

    async def delete_sync(self, connection_id: str, object_type: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM links WHERE connection_id = $1 AND object_type = $2",
                connection_id,
                object_type,
            )
            for table in ("watermarks", "association_waits"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE connection_id = $1 AND object_type = $2",
                    connection_id,
                    object_type,
                )
            result = await conn.execute(
                "DELETE FROM syncs WHERE connection_id = $1 AND object_type = $2",
                connection_id,
                object_type,
            )
        return bool(result.endswith(" 1"))

    async def last_synced(self, connection_id: str) -> dict[str, datetime]:
        rows = await self.pool.fetch(
            "SELECT object_type, max(last_synced_at) AS at FROM links WHERE connection_id = $1"
            " GROUP BY object_type",
            connection_id,
        )
        return {r["object_type"]: r["at"] for r in rows if r["at"] is not None}

    # Watermarks and dead letters ------------------------------------------------------------

    async def get_watermark(self, connection_id: str, object_type: str, side: Side) -> str | None:
        value = await self.pool.fetchval(
            "SELECT value FROM watermarks WHERE connection_id = $1 AND object_type = $2"
            " AND side = $3",
            connection_id,
            object_type,
            side.value,
        )
        return str(value) if value is not None else None

    async def set_watermark(
        self, connection_id: str, object_type: str, side: Side, value: str
    ) -> None:
        # Only while the sync exists: a poll that ends after its sync (or connection) was
        # deleted must not leave a watermark for a new sync of the object to start from.
        await self.pool.execute(
            "INSERT INTO watermarks (connection_id, object_type, side, value)"
            " SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM syncs"
            " WHERE connection_id = $1 AND object_type = $2)"
            " ON CONFLICT (connection_id, object_type, side) DO UPDATE SET value = $4",
            connection_id,
            object_type,
            side.value,
            value,
        )

    async def add_dead_letter(self, source: str, payload: bytes, error: str) -> None:
        await self.pool.execute(
            "INSERT INTO dead_letters (source, payload, error) VALUES ($1, $2, $3)",
            source,
            payload,
            error,
        )

    async def dead_letter_count(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM dead_letters"))
