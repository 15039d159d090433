"""Bearer tokens and their roles: `admin` changes things, `viewer` only reads."""

import hmac
from typing import Literal

from fastapi import Request

from services.web import ApiError

Role = Literal["admin", "viewer"]


class TokenCheck:
    def __init__(self, admin_token: str | None) -> None:
        self.admin_token = admin_token

    def role_of(self, request: Request) -> Role:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401, "unauthorized", "send a bearer token: Authorization: Bearer <token>"
            )
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return "admin"
        raise ApiError(401, "unauthorized", "the bearer token is not valid")

    def require_admin(self, request: Request) -> None:
        if self.role_of(request) != "admin":
            raise ApiError(403, "forbidden", "this action needs an admin token")
