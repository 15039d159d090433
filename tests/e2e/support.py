"""What end-to-end tests drive: a Dynamics organisation in the sandbox, connected to datasync
next to the shared HubSpot sandbox account, reached through the control API and the sandboxes'
APIs only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx

from services.devstack.stack import Stack
from tests.helpers import eventually

# The sandboxes' hook for "a person did this in the app's UI": HubSpot neither counts, rate
# limits nor faults such a request, and in both apps the person, not datasync, made the change.
USER = {"X-Sandbox-Actor": "user"}
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "jobtitle", "lifecyclestage")
CONTACT_COLUMNS = ("contactid", "emailaddress1", "firstname", "lastname", "jobtitle", "telephone1")

ConnectOrg = Callable[[], Awaitable["SandboxOrg"]]  # the `connect_org` fixture


def unique_email(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid4().hex[:10]}@example.com"


@asynccontextmanager
async def connected_org(stack: Stack) -> AsyncIterator[SandboxOrg]:
    """A new organisation in the Dynamics sandbox, connected to datasync with nothing syncing
    yet; disconnected on exit, so that later tests do not see it receive their writes."""
    name = f"org{uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    async with httpx.AsyncClient() as http:
        created = await http.put(f"{stack.dynamics_url}/_sandbox/orgs/{name}")
        assert created.status_code == 204, created.text
        response = await http.post(
            f"{stack.api_url}/v1/connections",
            headers=admin,
            json={
                "app": "dynamics365",
                "name": name,
                "base_url": f"{stack.dynamics_url}/{name}",
                "credentials": {"access_token": "sandbox-dynamics-token"},
            },
        )
        assert response.status_code == 201, response.text
    async with SandboxOrg.open(stack, name, response.json()["id"]) as org:
        try:
            yield org
        finally:
            await org.api.delete(f"/v1/connections/{org.cid}")


@dataclass
class SandboxOrg:
    """A Dynamics organisation connected to datasync as `cid`, and the shared HubSpot account.

    Every request to the apps is a person's (`USER`): HubSpot's budgets, faults and counters
    are left to datasync, and what a test writes reaches datasync as a person's edit."""

    stack: Stack
    name: str
    cid: str
    api: httpx.AsyncClient  # datasync's control API, as the admin
    hubspot: httpx.AsyncClient  # the HubSpot account's API and its sandbox's test control
    dynamics: httpx.AsyncClient  # the organisation's Web API
    dynamics_sandbox: httpx.AsyncClient  # the Dynamics sandbox's test control

    @classmethod
    @asynccontextmanager
    async def open(cls, stack: Stack, name: str, cid: str) -> AsyncIterator[SandboxOrg]:
        """The clients for the organisation `name`, connected already as `cid`."""
        admin = {"Authorization": f"Bearer {stack.admin_token}"}
        async with (
            httpx.AsyncClient(base_url=stack.api_url, headers=admin) as api,
            httpx.AsyncClient(
                base_url=stack.hubspot_url,
                headers={"Authorization": "Bearer sandbox-hubspot-token", **USER},
            ) as hubspot,
            httpx.AsyncClient(
                base_url=f"{stack.dynamics_url}/{name}/api/data/v9.2/",
                headers={"Authorization": "Bearer sandbox-dynamics-token", **USER},
            ) as dynamics,
            httpx.AsyncClient(base_url=stack.dynamics_url) as dynamics_sandbox,
        ):
            yield cls(stack, name, cid, api, hubspot, dynamics, dynamics_sandbox)

    # --- datasync ------------------------------------------------------------------------------

    def sync_path(self, obj: str, action: str = "") -> str:
        return f"/v1/connections/{self.cid}/syncs/{obj}" + (f"/{action}" if action else "")

    async def put_settings(self, obj: str, settings: dict[str, Any]) -> httpx.Response:
        return await self.api.put(self.sync_path(obj), json=settings)

    async def start(
        self,
        obj: str,
        settings: dict[str, Any] | None = None,
        *,
        initial_sync: bool = True,
        within: float = 60,
    ) -> None:
        """Save and sync `obj` with these settings (its defaults without), and wait until it
        syncs and, with `initial_sync`, until its initial sync has been worked through."""
        settings = settings or {}
        saved = await self.put_settings(obj, settings)
        assert saved.status_code == 200, saved.text
        started = await self.api.post(self.sync_path(obj, "start"))
        assert started.status_code == 200, started.text
        # A sync into HubSpot only never copies HubSpot's records into the organisation.
        worked_through = initial_sync and settings.get("direction") != "to_hubspot"
        await eventually(lambda: self._started(obj, worked_through), within=within)

    async def _started(self, obj: str, worked_through: bool) -> bool:
        sync = (await self.api.get(self.sync_path(obj))).json()
        if sync["state"] != "syncing":
            return False
        if not worked_through:
            return True
        # Every record read from HubSpot (which the new organisation receives, or matches, or
        # leaves out) has been decided.
        counts = await self.health(obj)
        done = counts["in_sync"] + counts["excluded"] + counts["failing"]
        return bool(done >= sync["progress"]["read"]["hubspot"])

    async def health(self, obj: str = "contacts") -> dict[str, Any]:
        response = await self.api.get(f"/v1/connections/{self.cid}/health")
        assert response.status_code == 200, response.text
        return dict(response.json()["objects"][obj])

    async def health_when(
        self, status: str, *, at_least: int = 0, at_most: int | None = None, obj: str = "contacts"
    ) -> dict[str, Any] | None:
        """The object's health counts once `status` counts at least `at_least` and at most
        `at_most` records; None until then."""
        counts = await self.health(obj)
        n = counts.get(status, 0)
        return counts if at_least <= n and (at_most is None or n <= at_most) else None

    async def audit(self, **params: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/v1/connections/{self.cid}/audit", params=params)
        assert response.status_code == 200, response.text
        return list(response.json())

    async def writes(self) -> tuple[int, int]:
        """The write counters so far: HubSpot's (datasync's writes) and this organisation's."""
        hubspot = (await self.hubspot.get("/_sandbox/counters")).json()
        dynamics = (
            await self.dynamics_sandbox.get("/_sandbox/counters", params={"org": self.name})
        ).json()
        return int(hubspot["writes"]), int(dynamics["writes"])

    # --- HubSpot: records are {"id": ..., **properties} ----------------------------------------

    async def seed_hubspot(self, object_type: str, rows: list[dict[str, Any]]) -> list[str]:
        """Records that existed before the sync started (no webhook fires)."""
        response = await self.hubspot.post("/_sandbox/seed", json={object_type: rows})
        assert response.status_code == 200, response.text
        return list(response.json()[object_type])

    async def create_in_hubspot(self, object_type: str, **properties: str) -> str:
        response = await self.hubspot.post(
            f"/crm/v3/objects/{object_type}", json={"properties": properties}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def update_in_hubspot(self, object_type: str, record_id: str, **properties: str) -> None:
        response = await self.hubspot.patch(
            f"/crm/v3/objects/{object_type}/{record_id}", json={"properties": properties}
        )
        assert response.status_code == 200, response.text

    async def associate_in_hubspot(
        self, from_object: str, from_id: str, to_object: str, to_id: str
    ) -> None:
        response = await self.hubspot.put(
            f"/crm/v4/objects/{from_object}/{from_id}/associations/default/{to_object}/{to_id}"
        )
        assert response.status_code in (200, 201), response.text

    async def hubspot_record(
        self, object_type: str, record_id: str, *properties: str
    ) -> dict[str, Any]:
        response = await self.hubspot.get(
            f"/crm/v3/objects/{object_type}/{record_id}",
            params={"properties": ",".join(properties)},
        )
        assert response.status_code == 200, response.text
        return _flat(response.json())

    async def hubspot_contact(self, email: str) -> dict[str, Any] | None:
        response = await self.hubspot.get(
            f"/crm/v3/objects/contacts/{email}",
            params={"idProperty": "email", "properties": ",".join(CONTACT_PROPERTIES)},
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return _flat(response.json())

    async def search_hubspot(
        self, object_type: str, prop: str, operator: str, value: str, *properties: str
    ) -> list[dict[str, Any]]:
        response = await self.hubspot.post(
            f"/crm/v3/objects/{object_type}/search",
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": prop, "operator": operator, "value": value}]}
                ],
                "properties": list(properties),
                "limit": 200,
            },
        )
        assert response.status_code == 200, response.text
        return [_flat(record) for record in response.json()["results"]]

    # --- Dynamics ------------------------------------------------------------------------------

    async def seed_dynamics(self, entity_set: str, rows: list[dict[str, Any]]) -> list[str]:
        """Records a person made before datasync was connected (no webhook fires)."""
        response = await self.dynamics_sandbox.post(
            f"/_sandbox/orgs/{self.name}/seed", json={entity_set: rows}
        )
        assert response.status_code == 200, response.text
        return list(response.json()[entity_set])

    async def create_in_dynamics(self, entity_set: str, columns: dict[str, Any]) -> str:
        response = await self.dynamics.post(entity_set, json=columns)
        assert response.status_code == 204, response.text
        return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    async def update_in_dynamics(
        self, entity_set: str, record_id: str, columns: dict[str, Any]
    ) -> None:
        response = await self.dynamics.patch(f"{entity_set}({record_id})", json=columns)
        assert response.status_code == 204, response.text

    async def dynamics_record(
        self, entity_set: str, record_id: str, *columns: str
    ) -> dict[str, Any]:
        response = await self.dynamics.get(
            f"{entity_set}({record_id})", params={"$select": ",".join(columns)}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def search_dynamics(
        self, entity_set: str, odata_filter: str, *columns: str
    ) -> list[dict[str, Any]]:
        response = await self.dynamics.get(
            entity_set, params={"$select": ",".join(columns), "$filter": odata_filter}
        )
        assert response.status_code == 200, response.text
        return list(response.json()["value"])

    async def find_in_dynamics(
        self, entity_set: str, column: str, value: str, *columns: str
    ) -> dict[str, Any] | None:
        """The one record whose `column` is `value`, once there is one; two fail the test."""
        found = await self.search_dynamics(entity_set, f"{column} eq '{value}'", *columns)
        assert len(found) <= 1, f"{len(found)} {entity_set} hold {value} in {self.name}: {found}"
        return found[0] if found else None

    async def dynamics_contact(self, email: str) -> dict[str, Any] | None:
        return await self.find_in_dynamics("contacts", "emailaddress1", email, *CONTACT_COLUMNS)


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], **record["properties"]}
