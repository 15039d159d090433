"""Who a token belongs to: the endpoints a client calls to learn its portal and app.

- `POST /oauth/v2/private-apps/get/access-token-info` with `{"tokenKey": ...}`: HubSpot's
  documented way to inspect a private-app token ("Private apps" guide, last section); answers
  `userId`, `hubId`, `appId` and `scopes`, needs no scope, and the token in the body is the
  credential (the Authorization header is optional).
- `GET /account-info/v3/details`: the account's `portalId`, time zone and currency
  ("Account information API").
- `GET /integrations/v1/me`: the legacy form of the same, still documented.
- `GET /account-info/v3/api-usage/daily/private-apps`: the private app's daily usage and limit
  ("Account information API"), the figures the X-HubSpot-RateLimit-Daily headers carry.
"""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.limits import DAY_SECONDS
from services.sandbox.hubspot.state import APP_ID, PORTAL_ID, SCOPES, USER_ID, sandbox_of
from services.sandbox.hubspot.timestamps import iso

router = APIRouter()

# The one path the bearer-token gate lets through: its body carries the credential.
TOKEN_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"


class TokenInfoRequest(BaseModel):
    tokenKey: str


@router.post(TOKEN_INFO_PATH)
async def access_token_info(body: TokenInfoRequest, request: Request) -> dict[str, Any]:
    if body.tokenKey != sandbox_of(request).settings.sandbox_hubspot_token:
        raise errors.unauthorized()
    return {"userId": USER_ID, "hubId": PORTAL_ID, "appId": APP_ID, "scopes": list(SCOPES)}


@router.get("/account-info/v3/details")
async def account_details() -> dict[str, Any]:
    return {
        "portalId": PORTAL_ID,
        "accountType": "STANDARD",
        "timeZone": "UTC",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "+00:00",
        "utcOffsetMilliseconds": 0,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }


@router.get("/account-info/v3/api-usage/daily/private-apps")
async def daily_usage(request: Request) -> dict[str, Any]:
    sandbox = sandbox_of(request)
    limiter = sandbox.limiter
    now = limiter.wall_clock()
    day_start = int(now // DAY_SECONDS) * DAY_SECONDS
    token = sandbox.settings.sandbox_hubspot_token
    return {
        "results": [
            {
                "name": "private-apps-api-calls-daily",
                "usageLimit": limiter.daily_budget,
                "currentUsage": limiter.used_today(token),
                "collectedAt": iso(int(now * 1000)),
                "fetchStatus": "SUCCESS",
                "resetsAt": iso((day_start + DAY_SECONDS) * 1000),
            }
        ]
    }


@router.get("/integrations/v1/me")
async def integration_me() -> dict[str, Any]:
    return {
        "portalId": PORTAL_ID,
        "timeZone": "UTC",
        "currency": "USD",
        "utcOffsetMilliseconds": 0,
        "utcOffset": "+00:00",
    }
