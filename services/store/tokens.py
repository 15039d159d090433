"""The control API's bearer tokens: created and revoked by `datasync token`, looked up by the
status API. Only digests are stored. Mixed into `Store`."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg


@dataclass(frozen=True)
class ApiToken:
    """A token as `datasync token list` shows it: never the token itself."""

    id: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None


class TokenNameTaken(Exception):
    """Another token already has the name."""


class TokenQueries:
    pool: asyncpg.Pool

    async def create_token(self, token_id: str, name: str, role: str, digest: bytes) -> ApiToken:
        try:
            row = await self.pool.fetchrow(
                "INSERT INTO api_tokens (id, name, role, token_hash) VALUES ($1, $2, $3, $4)"
                " RETURNING id, name, role, created_at, last_used_at",
                token_id,
                name,
                role,
                digest,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "api_tokens_name_key":
                raise TokenNameTaken(name) from exc
            raise
        return ApiToken(**dict(row))

    async def list_tokens(self) -> list[ApiToken]:
        rows = await self.pool.fetch(
            "SELECT id, name, role, created_at, last_used_at FROM api_tokens ORDER BY created_at, id"
        )
        return [ApiToken(**dict(r)) for r in rows]

    async def token_digest(self, token_id: str) -> tuple[ApiToken, bytes] | None:
        """The token with this id and the digest to compare a presented token's with."""
        row = await self.pool.fetchrow(
            "SELECT id, name, role, created_at, last_used_at, token_hash FROM api_tokens"
            " WHERE id = $1",
            token_id,
        )
        if row is None:
            return None
        fields = dict(row)
        digest = bytes(fields.pop("token_hash"))
        return ApiToken(**fields), digest

    async def touch_token(self, token_id: str, at_most_every: timedelta) -> None:
        """Note that the token was used; at most once per `at_most_every`, so that reads do not
        each turn into a write."""
        await self.pool.execute(
            "UPDATE api_tokens SET last_used_at = now() WHERE id = $1"
            " AND (last_used_at IS NULL OR last_used_at < now() - $2::interval)",
            token_id,
            at_most_every,
        )

    async def revoke_token(self, name_or_id: str) -> ApiToken | None:
        """Delete the token with this name, or else with this id; the one deleted, if any."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "DELETE FROM api_tokens WHERE name = $1"
                " RETURNING id, name, role, created_at, last_used_at",
                name_or_id,
            )
            if row is None:
                row = await conn.fetchrow(
                    "DELETE FROM api_tokens WHERE id = $1"
                    " RETURNING id, name, role, created_at, last_used_at",
                    name_or_id,
                )
        return ApiToken(**dict(row)) if row else None
