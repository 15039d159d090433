"""Errors classified as data: every failed call becomes an `ErrorResolution` that one executor
acts on (retry, wait for the rate limit, or fail the record with a category and fix steps)."""

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    FAIL = "fail"


class Category(StrEnum):
    VALIDATION = "validation"
    DUPLICATE = "duplicate"
    PERMISSION = "permission"
    RATE_LIMIT = "rate_limit"
    NOT_FOUND = "not_found"
    ASSOCIATION = "association"
    AUTH = "auth"
    CONFLICTING_TYPE = "conflicting_type"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


FIX_STEPS: dict[Category, str] = {
    Category.VALIDATION: "Correct the value in the source record, or change the field mapping.",
    Category.DUPLICATE: "Merge or remove the duplicate record on the target side.",
    Category.PERMISSION: "Give the connected user the permission named in the message.",
    Category.RATE_LIMIT: "Nothing to do: the record is retried once the app's limit allows.",
    Category.NOT_FOUND: "The target record was deleted; resync deleted records to recreate it.",
    Category.ASSOCIATION: "Sync the associated object too, or remove the association.",
    Category.AUTH: "Reconnect the account: its access token was refused.",
    Category.CONFLICTING_TYPE: "Map the field to a field of a compatible type.",
    Category.UNAVAILABLE: "Nothing to do: the app is unavailable and the record is retried.",
    Category.UNKNOWN: "Check the message; the record is retried with backoff.",
}


@dataclass(frozen=True)
class ErrorResolution:
    action: Action
    category: Category
    message: str
    wait_seconds: float = 0.0

    @property
    def fix(self) -> str:
        return FIX_STEPS[self.category]


class PayloadError(ValueError):
    """A webhook body is not what the app sends."""


class ConnectorError(Exception):
    """A call failed in a way the caller cannot retry away."""

    def __init__(self, resolution: ErrorResolution) -> None:
        super().__init__(resolution.message)
        self.resolution = resolution


def classify_status(status: int, message: str, retry_after: float | None = None) -> ErrorResolution:
    """The resolution for an HTTP status common to every app's API."""
    if status == 429:
        return ErrorResolution(
            Action.RATE_LIMITED, Category.RATE_LIMIT, message, wait_seconds=retry_after or 1.0
        )
    if status == 401:
        return ErrorResolution(Action.FAIL, Category.AUTH, message)
    if status == 403:
        return ErrorResolution(Action.FAIL, Category.PERMISSION, message)
    if status == 404:
        return ErrorResolution(Action.FAIL, Category.NOT_FOUND, message)
    if status == 409:
        return ErrorResolution(Action.FAIL, Category.DUPLICATE, message)
    if status in (400, 422):
        return ErrorResolution(Action.FAIL, Category.VALIDATION, message)
    if status >= 500:
        return ErrorResolution(Action.RETRY, Category.UNAVAILABLE, message, wait_seconds=1.0)
    return ErrorResolution(Action.FAIL, Category.UNKNOWN, message)
