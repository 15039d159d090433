"""Bodies of the status and control API (`/v1`)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from schemas.events import Side
from schemas.settings import SyncSettings, SyncState

# What an HTTP header can carry as a bearer token: printable ASCII, no spaces.
TOKEN_PATTERN = r"^[\x21-\x7e]+$"


class ErrorDetail(BaseModel):
    """What went wrong; some errors add fields (`details`, `problems`, `allowed`)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(
        description="For programs: unauthorized, forbidden, invalid_request, unknown_connection,"
        " unknown_object, unknown_sync, invalid_settings, not_started, app_unreachable, ...",
        examples=["unknown_connection"],
    )
    message: str = Field(
        description="For people", examples=["connection 3f9a1c2b7d4e does not exist"]
    )


class ErrorBody(BaseModel):
    """The body of every error answer (401, 403, 404, 409, 422, 502)."""

    error: ErrorDetail


class HubSpotAccountIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "base_url": "https://api.hubapi.com",
                    "access_token": "pat-na1-11111111-2222-3333-4444-555555555555",
                    "app_secret": "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                },
                {
                    "base_url": "http://127.0.0.1:8090",
                    "access_token": "sandbox-hubspot-token",
                    "app_secret": "sandbox-hubspot-app-secret",
                },
            ]
        }
    )

    base_url: HttpUrl = Field(description="https://api.hubapi.com, or the sandbox's address")
    access_token: str = Field(
        min_length=1,
        pattern=TOKEN_PATTERN,
        description="Private-app access token (printable ASCII, as a header carries it)",
    )
    app_secret: str = Field(min_length=1, description="The app's client secret (signs webhooks)")


class HubSpotAccountOut(BaseModel):
    base_url: str = Field(examples=["https://api.hubapi.com"])
    portal_id: str | None = Field(description="HubSpot's account id", examples=["8886743"])
    app_id: str | None = Field(description="The app the access token belongs to")


class Credentials(BaseModel):
    access_token: str = Field(
        min_length=1,
        pattern=TOKEN_PATTERN,
        description="A bearer token for the app's API (printable ASCII, as a header carries it)",
    )


class ConnectionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "app": "dynamics365",
                    "name": "Contoso Europe",
                    "base_url": "https://contoso.crm4.dynamics.com",
                    "credentials": {"access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9..."},
                },
                {
                    "app": "dynamics365",
                    "name": "Sandbox demo2",
                    "base_url": "http://127.0.0.1:8091/demo2",
                    "credentials": {"access_token": "sandbox-dynamics-token"},
                },
            ]
        }
    )

    app: Literal["dynamics365"] = Field(description="The app to connect; more apps come later")
    name: str = Field(min_length=1, max_length=200, description="A name for people")
    base_url: HttpUrl = Field(
        description="The organisation URL, e.g. https://contoso.crm.dynamics.com"
    )
    credentials: Credentials


class ConnectionOut(BaseModel):
    id: str = Field(description="The connection id (`cid` in the paths)", examples=["3f9a1c2b7d4e"])
    app: str
    name: str
    base_url: str
    webhook_registered: bool = Field(description="Whether datasync's webhook is registered")
    created_at: datetime


class SyncOut(BaseModel):
    connection_id: str
    object: str
    state: SyncState
    settings: SyncSettings
    progress: dict[str, Any] = Field(default_factory=dict)


class ResyncIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"into": "hubspot"}]})

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
    merged: int = Field(0, description="links closed because HubSpot merged the record away")
    waiting_for_association: int = Field(
        0, description="Synced records whose associated record has not synced yet"
    )
    initial_sync: dict[str, Any] = Field(default_factory=dict)
    last_change_synced_at: datetime | None = None
    consumer_lag: dict[str, int] | None = Field(
        None,
        description="Per consumer group (the processor, each writer): the object's change and"
        " write messages not yet processed, over every connection syncing it (the topics are"
        " per object); null while the broker cannot be asked",
        examples=[{"datasync-processor": 0, "datasync-writer-hubspot-contacts": 12}],
    )


class HealthOut(BaseModel):
    connection_id: str
    objects: dict[str, ObjectHealth]


class FailingExample(BaseModel):
    hubspot_id: str | None
    app_id: str | None
    message: str | None
    attempts: int = Field(description="Writes tried so far")
    next_retry_at: datetime | None = Field(description="When the record is tried again")


class ErrorGroupOut(BaseModel):
    object: str
    category: str = Field(description="validation, duplicate, permission, rate_limit, ...")
    count: int
    fix: str = Field(description="The steps that fix the cause")
    next_retry_at: datetime | None = Field(description="The soonest retry of the group")
    examples: list[FailingExample] = Field(description="A few records, most recently failed first")


class ErrorsOut(BaseModel):
    connection_id: str
    failing: int = Field(description="Failing records in every group")
    groups: list[ErrorGroupOut] = Field(description="By object and category, largest first")


class RecordError(BaseModel):
    category: str
    message: str | None
    fix: str
    attempts: int
    next_retry_at: datetime | None


class RecordOut(BaseModel):
    object: str
    hubspot_id: str | None
    app_id: str | None
    status: str = Field(
        description="in_sync, failing, excluded, deleted, pending, merged, resync or resyncing"
    )
    error: RecordError | None = Field(None, description="Why it fails (failing records)")
    reason: str | None = Field(None, description="Why the sync's rules leave it out (excluded)")
    deleted_side: Side | None = Field(
        None, description="Where it was deleted (deleted, resync, resyncing)"
    )
    merged_into: str | None = Field(None, description="The HubSpot record it was merged into")
    waiting_for: list[str] = Field(
        default_factory=list, description="Associated objects whose record has not synced yet"
    )
    last_synced_at: datetime | None
    updated_at: datetime = Field(description="When its status last changed; since/until filter")


class RecordsOut(BaseModel):
    records: list[RecordOut]
    next_cursor: str | None = Field(description="The `cursor` of the next page; null at the end")


class HubSpotAssociationType(BaseModel):
    from_object: str = Field(description="HubSpot object whose records hold the association")
    to_object: str
    type_id: int | None = Field(description="HubSpot-defined association type id, if one is set")
    label: str = Field(description="Primary, or default (HubSpot's unlabelled association)")


class DynamicsLookup(BaseModel):
    entity_set: str = Field(description="Dataverse entity set whose records hold the lookup")
    lookup: str = Field(description="The lookup attribute, read as _<lookup>_value")
    navigation: str = Field(description="The navigation property written with @odata.bind")


class AssociationOut(BaseModel):
    object: str = Field(description="The associated object")
    held_by: str = Field(description="The object whose records carry the association")
    syncs: bool = Field(description="Whether the association syncs now")
    reason: str | None = Field(description="Why it does not sync")
    hubspot_types: list[HubSpotAssociationType]
    dynamics_lookups: list[DynamicsLookup]
    notes: list[str] = Field(default_factory=list)


class AssociationsOut(BaseModel):
    connection_id: str
    object: str
    state: SyncState
    associations: list[AssociationOut]


class DryRunOut(BaseModel):
    """What "save and sync" would do; counts per side are keyed `hubspot` and `app`."""

    object_type: str
    linked: int = Field(description="Pairs linked before, checked again as pairs")
    matched: int = Field(description="Pairs the initial sync would match")
    in_sync: int = Field(description="Pairs that already agree: nothing would be written")
    created: dict[str, int] = Field(description="Records that would be created on each side")
    updated: dict[str, int] = Field(description="Records that would be updated on each side")
    updated_fields: dict[str, dict[str, int]] = Field(
        description="Per side, each field that would change and in how many records"
    )
    excluded: dict[str, dict[str, int]] = Field(
        description="Per side, records the rules leave out, by reason"
    )
    duplicates: dict[str, int] = Field(description="Duplicates: neither matched nor copied")
    held: dict[str, int] = Field(description="Records held back: they would match a duplicate")
    not_synced: dict[str, int] = Field(description="Records the direction keeps where they are")
    notes: dict[str, int] = Field(description="Values that would not be written, and how often")


class MeOut(BaseModel):
    role: Literal["admin", "viewer"] = Field(
        description="What the token may do: admin changes things, viewer only reads"
    )


class RecordDetailOut(RecordOut):
    """One record as the record view shows it, with the ids it was found by and its audit."""

    matched: Literal["hubspot_id", "app_id"] = Field(
        description="Which of the record's ids the id in the path matched"
    )
    audit: list[AuditOut] = Field(description="The changes datasync applied to it, newest first")


class RetryIn(BaseModel):
    """Which failing records to retry now; every one of the connection's when nothing is given.
    The conditions given must all hold."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"object": "contacts", "category": "validation"},
                {"object": "deals", "record_ids": ["9138472", "b2c7f1f0-..."]},
                {},
            ]
        },
    )

    object: str | None = Field(None, max_length=50, description="Only this object's records")
    category: str | None = Field(
        None, max_length=100, description="Only records failing with this error category"
    )
    record_ids: list[str] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Only these records: each a HubSpot id or an app id",
    )


class RetryOut(BaseModel):
    retried: int = Field(description="Failing records that are tried again on the next pass")


class ActivityBucket(BaseModel):
    start: datetime = Field(description="The bucket's first moment (UTC)")
    into_hubspot: int = Field(description="Records datasync wrote into HubSpot")
    into_app: int = Field(description="Records datasync wrote into the app")
    fields: int = Field(description="Field changes in those writes (rows of the audit trail)")


class ActivityOut(BaseModel):
    connection_id: str
    object: str | None = Field(description="The object counted; null for every object")
    bucket: Literal["minute", "hour"]
    since: datetime = Field(description="The first bucket's start")
    until: datetime = Field(description="The end of the last bucket")
    buckets: list[ActivityBucket] = Field(description="Every bucket in order, empty ones too")
