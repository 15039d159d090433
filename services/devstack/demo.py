"""The demo that `make run` sets up once the stack is healthy: demo contacts in both sandboxes
(some on both sides with the same email, some on one side only), the sandbox HubSpot account,
a Dynamics connection to org `demo`, and a two-way contacts sync that is started."""

import asyncio
from typing import Any

import httpx

from services.config import SandboxSettings

PEOPLE = [
    ("Ada", "Lovelace", "ada@example.com", "Analyst"),
    ("Grace", "Hopper", "grace@example.com", "Rear Admiral"),
    ("Alan", "Turing", "alan@example.com", "Researcher"),
    ("Edsger", "Dijkstra", "edsger@example.com", "Professor"),
    ("Barbara", "Liskov", "barbara@example.com", "Professor"),
    ("Ken", "Thompson", "ken@example.com", "Engineer"),
    ("Margaret", "Hamilton", "margaret@example.com", "Director"),
    ("Donald", "Knuth", "donald@example.com", "Author"),
]
BOTH = PEOPLE[:3]  # present on both sides with the same email: matched, not duplicated
HUBSPOT_ONLY = PEOPLE[3:5]
DYNAMICS_ONLY = PEOPLE[5:]
DEMO_NAME = "Dynamics 365 demo"


def hubspot_contacts() -> list[dict[str, Any]]:
    return [
        {"firstname": f, "lastname": last, "email": e, "jobtitle": j}
        for f, last, e, j in BOTH + HUBSPOT_ONLY
    ]


def dynamics_contacts() -> list[dict[str, Any]]:
    return [
        {"firstname": f, "lastname": last, "emailaddress1": e, "jobtitle": j}
        for f, last, e, j in BOTH + DYNAMICS_ONLY
    ]


async def bootstrap(
    api_url: str, admin_token: str, hubspot_url: str, dynamics_url: str, ingest_url: str
) -> str:
    """Seeds the sandboxes and sets up the demo connection; returns its id.

    Safe to run at every start: the sandboxes are seeded anew and the demo connection is
    replaced, never duplicated.
    """
    sandbox = SandboxSettings()
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        for response in (
            await http.post(f"{hubspot_url}/_sandbox/seed", json={"contacts": hubspot_contacts()}),
            await http.post(
                f"{dynamics_url}/_sandbox/orgs/demo/seed", json={"contacts": dynamics_contacts()}
            ),
            await http.put(
                f"{hubspot_url}/_sandbox/webhook", json={"url": f"{ingest_url}/webhooks/hubspot"}
            ),
        ):
            response.raise_for_status()
        api = httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60)
        async with api:
            response = await api.put(
                "/v1/hubspot",
                json={
                    "base_url": hubspot_url,
                    "access_token": sandbox.sandbox_hubspot_token,
                    "app_secret": sandbox.sandbox_hubspot_app_secret,
                },
            )
            response.raise_for_status()
            # The sandboxes keep records and webhook registrations in memory, so after a
            # restart the demo connection's links and registration mean nothing: connect anew.
            for existing in (await api.get("/v1/connections")).json():
                if existing["name"] == DEMO_NAME:
                    (await api.delete(f"/v1/connections/{existing['id']}")).raise_for_status()
            response = await api.post(
                "/v1/connections",
                json={
                    "app": "dynamics365",
                    "name": DEMO_NAME,
                    "base_url": f"{dynamics_url}/demo",
                    "credentials": {"access_token": sandbox.sandbox_dynamics_token},
                },
            )
            response.raise_for_status()
            cid = str(response.json()["id"])
            response = await api.put(
                f"/v1/connections/{cid}/syncs/contacts",
                json={"direction": "two_way", "conflict_winner": "hubspot"},
            )
            response.raise_for_status()
            (await api.post(f"/v1/connections/{cid}/syncs/contacts/start")).raise_for_status()
    return cid


async def wait_in_sync(
    api_url: str, admin_token: str, cid: str, expected: int, within: float
) -> int:
    """Poll the health endpoint until `expected` contacts are in sync; returns the count."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    in_sync = 0
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as api:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            health = (await api.get(f"/v1/connections/{cid}/health")).json()
            in_sync = int(health["objects"].get("contacts", {}).get("in_sync", 0))
            if in_sync >= expected:
                break
            await asyncio.sleep(0.5)
    return in_sync
