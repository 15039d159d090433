"""Connectors built from what the state store knows of the accounts, cached per process."""

from services.connectors.base import Connector
from services.connectors.dynamics import DynamicsConnector
from services.connectors.hubspot import HubSpotConnector
from services.store.repository import Store

APPS = {"dynamics365": DynamicsConnector}


class Connectors:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._hubspot: tuple[tuple[str, str], HubSpotConnector] | None = None
        self._apps: dict[str, Connector] = {}

    async def hubspot(self) -> HubSpotConnector:
        account = await self.store.get_hubspot()
        if account is None:
            raise LookupError("no HubSpot account is set up (PUT /v1/hubspot)")
        key = (account.base_url, account.access_token)
        if self._hubspot is None or self._hubspot[0] != key:
            if self._hubspot is not None:
                await self._hubspot[1].aclose()
            self._hubspot = (key, HubSpotConnector(account.base_url, account.access_token))
        return self._hubspot[1]

    async def app(self, connection_id: str) -> Connector:
        if connection_id not in self._apps:
            conn = await self.store.get_connection(connection_id)
            if conn is None:
                raise LookupError(f"connection {connection_id} does not exist")
            factory = APPS[conn.app]
            self._apps[connection_id] = factory(conn.base_url, conn.credentials["access_token"])
        return self._apps[connection_id]

    async def aclose(self) -> None:
        if self._hubspot is not None:
            await self._hubspot[1].aclose()
        for connector in self._apps.values():
            await connector.aclose()
        self._apps.clear()
