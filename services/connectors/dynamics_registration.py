"""Registering datasync's webhook in a Dataverse organisation, the way Dataverse registers
one through its Web API: a service endpoint (contract 8, WebhookKey auth) and one processing
step per message and entity."""

from services.connectors.http import ApiClient

MESSAGES = ("Create", "Update", "Delete")


def _id_of(entity_id_header: str) -> str:
    return entity_id_header.rsplit("(", 1)[-1].rstrip(")")


async def register_webhook(
    api: ApiClient, name: str, url: str, key: str, entities: list[str]
) -> str:
    """Register the webhook for create, update and delete of the given entities (logical
    names) that the organisation has; returns the service endpoint id."""
    response = await api.request(
        "POST",
        "serviceendpoints",
        # contract 8 = Webhook; authtype 4 = WebhookKey, sent by Dataverse as `?code=<key>`.
        json={"name": name, "url": url, "contract": 8, "authtype": 4, "authvalue": key},
    )
    endpoint_id = _id_of(response.headers["OData-EntityId"])
    for message in MESSAGES:
        found = await api.request("GET", "sdkmessages", params={"$filter": f"name eq '{message}'"})
        message_id = found.json()["value"][0]["sdkmessageid"]
        for entity in entities:
            filters = await api.request(
                "GET",
                "sdkmessagefilters",
                params={
                    "$filter": f"primaryobjecttypecode eq '{entity}' and "
                    f"_sdkmessageid_value eq {message_id}"
                },
            )
            found_filters = filters.json()["value"]
            if not found_filters:
                continue  # this organisation has no such entity
            await api.request(
                "POST",
                "sdkmessageprocessingsteps",
                json={
                    "name": f"{name}: {message} of {entity}",
                    "mode": 1,  # asynchronous
                    "stage": 40,  # post-operation
                    "rank": 1,
                    "supporteddeployment": 0,
                    "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
                    "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
                    "sdkmessagefilterid@odata.bind": "/sdkmessagefilters("
                    f"{found_filters[0]['sdkmessagefilterid']})",
                },
            )
    return endpoint_id
