"""Bearer tokens and their roles: `admin` changes things, `viewer` only reads.

A token is either the deployment's admin token (`DATASYNC_ADMIN_TOKEN`) or one that
`datasync token create` issued. An issued token's lookup is cached for `CACHE_SECONDS`, so a
revoked token is refused within that time; tokens never reach a log or an error message.
"""

import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol, cast

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.store.tokens import ApiToken
from services.tokens import ROLES, Role, digest, id_of
from services.web import ApiError

__all__ = ["BEARER", "CACHE_SECONDS", "Role", "TokenCheck"]

CACHE_SECONDS = 1.0
LAST_USED_EVERY = timedelta(minutes=1)  # how finely `datasync token list` shows "last used"
_CACHE_SIZE = 4096

BEARER = HTTPBearer(
    auto_error=False,
    description="An admin or viewer token: `DATASYNC_ADMIN_TOKEN`, or one made with"
    " `datasync token create --role admin|viewer`. Viewers may only read.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class IssuedTokens(Protocol):
    """Where issued tokens are kept: the state store."""

    async def token_digest(self, token_id: str) -> tuple[ApiToken, bytes] | None: ...

    async def touch_token(self, token_id: str, at_most_every: timedelta) -> None: ...


class TokenCheck:
    """The role a request's bearer token carries. `reader` and `admin` are the routes'
    dependencies: every route needs a valid token, and a change needs an admin's."""

    def __init__(
        self,
        admin_token: str | None,
        issued: IssuedTokens | None = None,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.admin_token = admin_token
        self.issued = issued
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[bytes, tuple[Role, float]] = {}  # digest -> role, valid until

    async def role_of(self, token: str | None) -> Role:
        if not token:
            raise ApiError(
                401,
                "unauthorized",
                "send a bearer token: Authorization: Bearer <token>",
                headers=_CHALLENGE,
            )
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return "admin"
        role = await self._issued_role(token)
        if role is None:
            raise ApiError(401, "unauthorized", "the bearer token is not valid", headers=_CHALLENGE)
        return role

    async def reader(self, credentials: Credentials) -> Role:
        return await self.role_of(credentials.credentials if credentials else None)

    async def admin(self, credentials: Credentials) -> Role:
        role = await self.reader(credentials)
        if role != "admin":
            raise ApiError(403, "forbidden", "this action needs an admin token")
        return role

    async def _issued_role(self, token: str) -> Role | None:
        token_id = id_of(token)
        if token_id is None or self.issued is None:
            return None
        key = digest(token)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await self.issued.token_digest(token_id)
        if found is None or not hmac.compare_digest(key, found[1]) or found[0].role not in ROLES:
            self._cache.pop(key, None)
            return None
        stored, _ = found
        if len(self._cache) >= _CACHE_SIZE:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
        role = cast(Role, stored.role)
        self._cache[key] = (role, now + self.cache_seconds)
        last = stored.last_used_at
        if last is None or datetime.now(UTC) - last > LAST_USED_EVERY:
            await self.issued.touch_token(token_id, LAST_USED_EVERY)
        return role
