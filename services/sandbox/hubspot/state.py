"""The sandbox's whole state, built once per app: the composition root hands it to every route."""

import time
from collections.abc import Callable, Iterable

from fastapi import Request

from services.config import SandboxSettings
from services.sandbox.hubspot.limits import Counters, Faults, RateLimiter
from services.sandbox.hubspot.store import Portal
from services.sandbox.hubspot.webhooks import Actor, Change, WebhookDispatcher, WebhookPolicy

# Fixed identities of the emulated account and of the app that owns the sync's token.
PORTAL_ID = 900001
APP_ID = 1000001
USER_ID = 1
SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
)

# A test hook, not HubSpot's: the request stands for a person editing in HubSpot's UI.
ACTOR_HEADER = "X-Sandbox-Actor"
INTEGRATION = Actor("INTEGRATION", str(APP_ID))
USER = Actor("CRM_UI", f"userId:{USER_ID}")


class Sandbox:
    def __init__(
        self,
        settings: SandboxSettings,
        webhook_policy: WebhookPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.portal = Portal()
        self.limiter = RateLimiter(clock)
        self.faults = Faults()
        self.counters = Counters()
        self.webhooks = WebhookDispatcher(
            settings.sandbox_hubspot_app_secret, PORTAL_ID, APP_ID, webhook_policy
        )

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    def publish(self, changes: Iterable[Change]) -> None:
        self.webhooks.publish(changes)

    def count_write(self, actor: Actor, records: int) -> None:
        """The sync's writes only: a simulated person's edits are not the app's API usage."""
        if actor is INTEGRATION:
            self.counters.count_write(records)

    def reset(self) -> None:
        self.portal.clear()
        self.counters.reset()
        self.faults.clear()
        self.limiter.reset()
        self.webhooks.reset()


def actor_of(request: Request) -> Actor:
    return USER if request.headers.get(ACTOR_HEADER, "").lower() == "user" else INTEGRATION


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox
