"""Dataverse Web API errors: the status, the hex error code and the message the service gives.

Body shape (Compose HTTP requests and handle errors): `{"error": {"code": "0x...", "message"}}`.
The codes are the ones Dataverse returns for the same failure (0x80040217 record does not
exist, 0x80060888 query syntax / unknown property, 0x8006088a unknown resource segment,
0x80048d19 bad payload, 0x80040237 duplicate key, 0x80060892 duplicate alternate key,
0x80060882 row version mismatch, 0x80072322 service protection: number of requests).
"""

from collections.abc import Iterable
from typing import Any

from fastapi.responses import JSONResponse, Response

JSON_MEDIA_TYPE = "application/json; odata.metadata=minimal"
ODATA_HEADERS = {"OData-Version": "4.0"}


class ODataError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        headers = {**ODATA_HEADERS, **self.headers}
        if self.status == 401:
            # Dataverse answers an unauthenticated request with an empty body and a challenge.
            return Response(status_code=401, headers=headers)
        body: dict[str, Any] = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, self.status, headers=headers, media_type=JSON_MEDIA_TYPE)

    @classmethod
    def not_found(cls, logical_name: str, record_id: str) -> "ODataError":
        return cls(404, "0x80040217", f"{logical_name} With Id = {record_id} Does Not Exist")

    @classmethod
    def segment_not_found(cls, segment: str) -> "ODataError":
        return cls(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")

    @classmethod
    def property_not_found(cls, type_name: str, name: str) -> "ODataError":
        return cls(
            400, "0x80060888", f"Could not find a property named '{name}' on type '{type_name}'."
        )

    @classmethod
    def query(cls, message: str) -> "ODataError":
        return cls(400, "0x80060888", message)

    @classmethod
    def payload(cls, entity_set: str, inner: str) -> "ODataError":
        return cls(
            400,
            "0x80048d19",
            f"Error identified in Payload provided by the user for Entity :'{entity_set}', "
            "For more information on this error please follow this help link "
            "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
            f"Microsoft.OData.ODataException: {inner}",
        )

    @classmethod
    def invalid_argument(cls, message: str) -> "ODataError":
        return cls(400, "0x80040203", message)

    @classmethod
    def too_long(cls, logical_name: str, attribute: str, max_length: int) -> "ODataError":
        return cls(
            400,
            "0x80044331",
            f"A validation error occurred. The length of the '{attribute}' attribute of the "
            f"'{logical_name}' entity exceeded the maximum allowed length of '{max_length}'.",
        )

    @classmethod
    def option_out_of_range(
        cls, logical_name: str, attribute: str, value: int, accepted: Iterable[int]
    ) -> "ODataError":
        values = ",".join(str(v) for v in accepted)
        return cls(
            400,
            "0x8004431a",
            f"A validation error occurred. The value {value} of '{attribute}' on record of "
            f"type '{logical_name}' is outside the valid range. Accepted Values: {values}",
        )

    @classmethod
    def out_of_range(
        cls, logical_name: str, attribute: str, value: object, low: object, high: object
    ) -> "ODataError":
        return cls(
            400,
            "0x8004431a",
            f"A validation error occurred. The value {value} of '{attribute}' on record of "
            f"type '{logical_name}' is outside the valid range. Accepted Values: {low} to {high}",
        )

    @classmethod
    def key_not_found(cls, logical_name: str) -> "ODataError":
        return cls(
            404,
            "0x80040217",
            f"A record with the specified key values does not exist in {logical_name} entity",
        )

    @classmethod
    def invalid_key(cls, logical_name: str) -> "ODataError":
        """(Use an alternate key to reference a record: Exceptions.)"""
        type_name = f"Microsoft.Dynamics.CRM.{logical_name}"
        return cls(
            400,
            "0x80060888",
            f"The key in the request URI is not valid for resource '{type_name}'. Ensure that "
            "the names and number of key properties match the declared or alternate key "
            f"properties for the resource '{type_name}'.",
        )

    @classmethod
    def inactive_key(cls, logical_name: str, key_name: str) -> "ODataError":
        return cls(
            400,
            "0x80060888",
            f"The alternate key '{key_name}' of '{logical_name}' is not active: its unique "
            "index could not be built because rows hold the same key values "
            "(EntityKeyIndexStatus Failed).",
        )

    @classmethod
    def duplicate_key(cls, columns: Iterable[str], key_name: str) -> "ODataError":
        names = ", ".join(columns)
        return cls(
            412,
            "0x80060892",
            f"A record that has the attribute values {names} already exists. The entity key "
            f"{key_name} requires that this set of attributes contains unique values. Select "
            "unique values and try again.",
        )

    @classmethod
    def restricted_delete(cls, logical_name: str, child: str) -> "ODataError":
        return cls(
            400,
            "0x80040227",
            f"The {logical_name} record cannot be deleted because a '{child}' record refers to "
            "it through a relationship whose delete behaviour is Restrict.",
        )

    @classmethod
    def duplicate(cls) -> "ODataError":
        return cls(412, "0x80040237", "A record with matching key values already exists.")

    @classmethod
    def version_mismatch(cls) -> "ODataError":
        return cls(
            412,
            "0x80060882",
            "The version of the existing record doesn't match the RowVersion property provided.",
        )

    @classmethod
    def method_not_allowed(cls, method: str, resource: str) -> "ODataError":
        return cls(405, "0x80060888", f"The HTTP method '{method}' is not allowed on '{resource}'.")

    @classmethod
    def throttled(cls, limit: int, window_seconds: int, retry_after: int) -> "ODataError":
        return cls(
            429,
            "0x80072322",
            f"Number of requests exceeded the limit of {limit} over time window of "
            f"{window_seconds} seconds.",
            {"Retry-After": str(retry_after)},
        )

    @classmethod
    def unauthorized(cls, org_url: str) -> "ODataError":
        challenge = (
            "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, "
            f"resource_id={org_url}"
        )
        return cls(401, "", "", {"WWW-Authenticate": challenge})

    @classmethod
    def server_error(cls, status: int) -> "ODataError":
        if status == 503:
            return cls(503, "0x80040216", "The service is temporarily unavailable.")
        return cls(status, "0x80040216", "An unexpected error occurred.")
