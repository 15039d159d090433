"""Connectors built from what the state store knows of the accounts, cached per process.

The registry also counts the requests its connectors send, per account, into the store's
`datasync_api_requests` counter (every `count_every` seconds and when it closes), so that
`/metrics` shows how much of each account's budget the writers, the processor and the
reconciler spend together.
"""

import asyncio
import contextlib
import logging

from services.config import ConnectorSettings
from services.connectors.base import Connector
from services.connectors.dynamics import DynamicsConnector
from services.connectors.http import ApiClient, RequestBudget
from services.connectors.hubspot import HubSpotConnector
from services.store.metrics import Labels, labels_of
from services.store.repository import Store

log = logging.getLogger(__name__)

APPS = {"dynamics365": DynamicsConnector}
COUNT_EVERY = 2.0  # seconds between adding the requests sent to the store's counter


class Connectors:
    def __init__(
        self,
        store: Store,
        count_every: float = COUNT_EVERY,
        settings: ConnectorSettings | None = None,
    ) -> None:
        self.store = store
        self.count_every = count_every
        self.settings = settings or ConnectorSettings()
        self._hubspot: tuple[tuple[str, str], HubSpotConnector] | None = None
        self._apps: dict[str, Connector] = {}
        # Each client's account labels and the requests of it already counted.
        self._clients: dict[ApiClient, tuple[Labels, int]] = {}
        self._counting: asyncio.Task[None] | None = None

    async def hubspot(self) -> HubSpotConnector:
        account = await self.store.get_hubspot()
        if account is None:
            raise LookupError("no HubSpot account is set up (PUT /v1/hubspot)")
        key = (account.base_url, account.access_token)
        if self._hubspot is None or self._hubspot[0] != key:
            if self._hubspot is not None:
                await self._retire(self._hubspot[1])
            budget = RequestBudget(
                self.settings.hubspot_requests_per_window, self.settings.hubspot_window_seconds
            )
            connector = HubSpotConnector(account.base_url, account.access_token, budget)
            self._hubspot = (key, connector)
            self._track(connector, account.portal_id or "hubspot", "hubspot")
        return self._hubspot[1]

    async def app(self, connection_id: str) -> Connector:
        if connection_id not in self._apps:
            conn = await self.store.get_connection(connection_id)
            if conn is None:
                raise LookupError(f"connection {connection_id} does not exist")
            factory = APPS[conn.app]
            budget = RequestBudget(
                self.settings.dynamics_requests_per_window, self.settings.dynamics_window_seconds
            )
            connector = factory(conn.base_url, conn.credentials["access_token"], budget)
            self._apps[connection_id] = connector
            self._track(connector, connection_id, conn.app)
        return self._apps[connection_id]

    def _track(self, connector: Connector, account: str, app: str) -> None:
        api = getattr(connector, "api", None)
        if isinstance(api, ApiClient):
            self._clients[api] = (labels_of(account=account, app=app), api.requests_sent)
        if self._counting is None and self.count_every > 0:
            self._counting = asyncio.create_task(self._count_periodically())

    async def _retire(self, connector: Connector) -> None:
        await self.count_requests()
        api = getattr(connector, "api", None)
        if isinstance(api, ApiClient):
            del self._clients[api]
        await connector.aclose()

    async def count_requests(self) -> None:
        """Add the requests sent since the last count to the store's counter. When the store
        cannot take them they stay uncounted and go with the next count."""
        sent = {api: api.requests_sent for api in self._clients}
        counts: dict[Labels, int] = {}
        for api, (labels, counted) in self._clients.items():
            counts[labels] = counts.get(labels, 0) + sent[api] - counted
        try:
            await self.store.add_counts("datasync_api_requests", counts)
        except Exception as exc:
            log.warning("could not count the API requests sent: %r", exc)
            return
        for api, n in sent.items():
            if api in self._clients:
                self._clients[api] = (self._clients[api][0], n)

    async def _count_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.count_every)
            await self.count_requests()

    async def aclose(self) -> None:
        if self._counting is not None:
            self._counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._counting
            self._counting = None
        await self.count_requests()
        self._clients.clear()
        if self._hubspot is not None:
            await self._hubspot[1].aclose()
            self._hubspot = None
        for connector in self._apps.values():
            await connector.aclose()
        self._apps.clear()
