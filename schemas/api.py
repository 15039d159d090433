"""Bodies of the status and control API (`/v1`)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl

from schemas.settings import SyncSettings, SyncState


class HubSpotAccountIn(BaseModel):
    base_url: HttpUrl = Field(description="https://api.hubapi.com, or the sandbox's address")
    access_token: str = Field(min_length=1, description="Private-app access token")
    app_secret: str = Field(min_length=1, description="The app's client secret (signs webhooks)")


class HubSpotAccountOut(BaseModel):
    base_url: str
    portal_id: str | None
    app_id: str | None


class Credentials(BaseModel):
    access_token: str = Field(min_length=1)


class ConnectionIn(BaseModel):
    app: Literal["dynamics365"]
    name: str = Field(min_length=1, max_length=200)
    base_url: HttpUrl = Field(
        description="The organisation URL, e.g. https://contoso.crm.dynamics.com"
    )
    credentials: Credentials


class ConnectionOut(BaseModel):
    id: str
    app: str
    name: str
    base_url: str
    webhook_registered: bool
    created_at: datetime


class SyncOut(BaseModel):
    connection_id: str
    object: str
    state: SyncState
    settings: SyncSettings
    progress: dict[str, Any] = Field(default_factory=dict)


class ResyncIn(BaseModel):
    into: Literal["hubspot", "app"] = Field(
        description="The side whose deleted records to recreate"
    )


class ResyncOut(BaseModel):
    requested: int = Field(description="Deleted records queued to be recreated")


class AuditOut(BaseModel):
    at: datetime
    object: str
    hubspot_id: str | None
    app_id: str | None
    target: str
    op: str
    field: str | None
    old_value: Any
    new_value: Any
    reason: str


class ObjectHealth(BaseModel):
    state: SyncState | None
    in_sync: int = 0
    failing: int = 0
    excluded: int = 0
    pending: int = 0
    deleted: int = 0
    waiting_for_association: int = Field(
        0, description="Synced records whose associated record has not synced yet"
    )
    initial_sync: dict[str, Any] = Field(default_factory=dict)
    last_change_synced_at: datetime | None = None


class HealthOut(BaseModel):
    connection_id: str
    objects: dict[str, ObjectHealth]
