"""The lookups every route of a connection starts with: a 404 with the contract's error body
for an unknown connection, object or sync."""

from schemas.objects import OBJECT_TYPES
from services.store.repository import Connection, Store, Sync
from services.web import ApiError


class Lookups:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def connection(self, cid: str) -> Connection:
        conn = await self.store.get_connection(cid)
        if conn is None:
            raise ApiError(404, "unknown_connection", f"connection {cid} does not exist")
        return conn

    @staticmethod
    def object(obj: str) -> str:
        if obj not in OBJECT_TYPES:
            raise ApiError(
                404, "unknown_object", f"unknown object {obj!r}; one of {', '.join(OBJECT_TYPES)}"
            )
        return obj

    async def sync(self, cid: str, obj: str) -> Sync:
        await self.connection(cid)
        sync = await self.store.get_sync(cid, self.object(obj))
        if sync is None:
            raise ApiError(404, "unknown_sync", f"connection {cid} has no {obj} sync")
        return sync
