"""Who a token belongs to: the endpoints a client calls to learn its portal and app.

- `POST /oauth/v2/private-apps/get/access-token-info` with `{"tokenKey": ...}`: HubSpot's
  documented way to inspect a private-app token ("Private apps" guide, last section); answers
  `userId`, `hubId`, `appId` and `scopes`, needs no scope, and the token in the body is the
  credential (the Authorization header is optional).
- `GET /account-info/v3/details`: the account's `portalId`, time zone and currency
  ("Account information API").
- `GET /integrations/v1/me`: the legacy form of the same, still documented.
"""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.state import APP_ID, PORTAL_ID, SCOPES, USER_ID, sandbox_of

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


@router.get("/integrations/v1/me")
async def integration_me() -> dict[str, Any]:
    return {
        "portalId": PORTAL_ID,
        "timeZone": "UTC",
        "currency": "USD",
        "utcOffsetMilliseconds": 0,
        "utcOffset": "+00:00",
    }
