"""HubSpot's error bodies, one constructor per error the sandbox answers with.

Shapes follow HubSpot's "Error handling" reference (`status`, `message`, `correlationId`,
`category`, optional `errors` and `context`) and responses observed from api.hubapi.com
(401 "Authentication credentials not found...", 409 "Contact already exists. Existing ID: n",
429 "You have reached your ten_secondly_rolling limit." with `errorType` and `policyName`).
"""

import json
from typing import Any
from uuid import uuid4

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.sandbox.hubspot.objects import ObjectDefinition

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotError(Exception):
    """Raised by a route; rendered as HubSpot's JSON error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def error_body(message: str, category: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid4()),
    }
    if category:
        body["category"] = category
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def unauthorized() -> HubSpotError:
    return HubSpotError(401, error_body(AUTH_MESSAGE, "INVALID_AUTHENTICATION"))


def validation(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, error_body(message, "VALIDATION_ERROR", **extra))


def unknown_object_type(segment: str) -> HubSpotError:
    message = f"Unable to infer object type from: {segment}"
    return HubSpotError(400, error_body(message, "VALIDATION_ERROR"))


def not_found(message: str = "resource not found") -> HubSpotError:
    return HubSpotError(404, error_body(message, "OBJECT_NOT_FOUND"))


def conflict(definition: ObjectDefinition, existing_id: int) -> HubSpotError:
    return conflict_of(conflict_message(definition, existing_id))


def conflict_of(message: str, category: str = "CONFLICT") -> HubSpotError:
    return HubSpotError(409, error_body(message, category))


def developer_key_invalid() -> HubSpotError:
    """The developer API key (`hapikey`) is missing or not the account's."""
    message = (
        "The API key provided is invalid. View or manage your API key here: "
        "https://app.hubspot.com/l/api-key/"
    )
    return HubSpotError(401, error_body(message, "INVALID_AUTHENTICATION"))


def conflict_message(definition: ObjectDefinition, existing_id: int) -> str:
    return f"{definition.singular.capitalize()} already exists. Existing ID: {existing_id}"


def property_message(problems: list[dict[str, Any]]) -> str:
    """HubSpot embeds the per-property problems as JSON inside the message."""
    return f"Property values were not valid: {json.dumps(problems, separators=(',', ':'))}"


def batch_limit(count: int, limit: int) -> HubSpotError:
    return validation(
        f"Batch input limit exceeded: got {count} inputs, at most {limit} are allowed",
        errors=[{"message": f"size must be between 1 and {limit}", "in": "inputs"}],
    )


def rate_limited(policy: str) -> dict[str, Any]:
    """The 429 body: the older `errorType` shape HubSpot still answers rate limits with."""
    return {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "category": "RATE_LIMITS",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid4()),
        "policyName": policy,
    }


def server_error(status: int) -> dict[str, Any]:
    return error_body(f"Internal error ({status}), injected by the sandbox")


_CATEGORIES = {401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND"}


def install_handlers(app: FastAPI) -> None:
    """Every error leaves the sandbox in HubSpot's shape, FastAPI's own ones included."""

    async def on_hubspot_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubSpotError)
        return JSONResponse(exc.body, status_code=exc.status)

    async def on_invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"message": str(e.get("msg", "")), "in": ".".join(str(p) for p in e.get("loc", ()))}
            for e in exc.errors()
        ]
        body = error_body("Invalid input JSON", "VALIDATION_ERROR", errors=details)
        return JSONResponse(body, status_code=400)

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        category = _CATEGORIES.get(exc.status_code, "VALIDATION_ERROR")
        return JSONResponse(error_body(str(exc.detail), category), status_code=exc.status_code)

    app.add_exception_handler(HubSpotError, on_hubspot_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
