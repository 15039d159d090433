"""HubSpot's official Python client (hubspot-api-client 12.0.0), unchanged, against the sandbox.

The sandbox runs under uvicorn on a free loopback port in a background thread; the client is
pointed at it through its configuration's `host`, as any HubSpot(...) keyword is copied onto
each API's Configuration. What the client deserialises proves the sandbox's bodies carry every
field its models require.
"""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicAssociationMultiPost,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
    PublicObjectId,
)
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import OptionInput, PropertyCreate
from hubspot.webhooks import (
    SettingsChangeRequest,
    SubscriptionCreateRequest,
    ThrottlingSettings,
)

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app

pytestmark = pytest.mark.integration

TOKEN = "client-test-token"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = create_app(SandboxSettings(sandbox_hubspot_token=TOKEN))
    app.state.sandbox.limiter.ten_second_budget = 10_000  # the client does not retry 429s here
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the sandbox did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def client(base_url: str) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=base_url)


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


def test_objects_basic_api_creates_reads_updates_lists_and_archives(client: HubSpot) -> None:
    contacts = client.crm.contacts.basic_api
    email = f"{unique('ada')}@example.com"
    created = contacts.create(
        SimplePublicObjectInputForCreate(properties={"email": email, "firstname": "Ada"})
    )
    assert created.properties["email"] == email
    read = contacts.get_by_id(created.id, properties=["firstname", "email"])
    assert read.properties["firstname"] == "Ada"
    updated = contacts.update(created.id, SimplePublicObjectInput(properties={"lastname": "L"}))
    assert updated.properties["lastname"] == "L"
    page = contacts.get_page(limit=100, properties=["email"])
    assert created.id in [r.id for r in page.results]
    contacts.archive(created.id)
    with pytest.raises(ApiException) as missing:
        contacts.get_by_id(created.id)
    assert missing.value.status == 404


def test_the_generic_objects_api_serves_engagements(client: HubSpot) -> None:
    task = client.crm.objects.basic_api.create(
        "tasks",
        {"properties": {"hs_task_subject": "Call back", "hs_timestamp": "2024-05-01T10:00:00Z"}},
    )
    read = client.crm.objects.basic_api.get_by_id("tasks", task.id, properties=["hs_task_subject"])
    assert read.properties["hs_task_subject"] == "Call back"


def test_batch_api_creates_reads_and_updates(client: HubSpot) -> None:
    batch = client.crm.contacts.batch_api
    emails = [f"{unique(f'b{i}')}@example.com" for i in range(3)]
    created = batch.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectBatchInputForCreate(properties={"email": e}) for e in emails]
        )
    )
    assert sorted(r.properties["email"] for r in created.results) == sorted(emails)
    ids = [r.id for r in created.results]
    read = batch.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=["email"],
            properties_with_history=[],
        )
    )
    assert sorted(r.id for r in read.results) == sorted(ids)
    updated = batch.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties={"firstname": "B"}) for i in ids]
        )
    )
    assert {r.properties["firstname"] for r in updated.results} == {"B"}


def test_search_api_filters_and_reports_the_total(client: HubSpot) -> None:
    email = f"{unique('search')}@example.com"
    client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": email})
    )
    found = client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(filters=[Filter(property_name="email", operator="EQ", value=email)])
            ],
            properties=["email"],
            limit=10,
        )
    )
    assert found.total == 1
    assert found.results[0].properties["email"] == email


def test_properties_core_api_lists_reads_and_creates(client: HubSpot) -> None:
    core = client.crm.properties.core_api
    listed = core.get_all("contacts")
    assert "lifecyclestage" in [p.name for p in listed.results]
    stage = core.get_by_name("contacts", "lifecyclestage")
    assert "customer" in [o.value for o in stage.options]
    name = unique("tier").replace("-", "_")
    created = core.create(
        "companies",
        PropertyCreate(
            name=name,
            label="Tier",
            type="enumeration",
            field_type="select",
            group_name="companyinformation",
            options=[OptionInput(label="Gold", value="gold", hidden=False, display_order=0)],
        ),
    )
    assert (created.name, created.hubspot_defined) == (name, False)


def test_associations_v4_basic_and_batch_apis(client: HubSpot) -> None:
    contact = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": f"{unique('as')}@example.com"})
    )
    company = client.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Acme"})
    )
    deal = client.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"dealname": "Big"})
    )
    v4 = client.crm.associations.v4
    default = v4.basic_api.create_default("contacts", contact.id, "companies", company.id)
    assert {r.association_spec.association_type_id for r in default.results} == {279, 280}
    page = v4.basic_api.get_page("contacts", contact.id, "companies")
    (association,) = page.results
    assert {t.type_id for t in association.association_types} == {1, 279}
    labelled = v4.basic_api.create(
        "deals",
        deal.id,
        "contacts",
        contact.id,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=3)],
    )
    assert str(labelled.to_object_id) == contact.id
    created = v4.batch_api.create(
        "deals",
        "companies",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                PublicAssociationMultiPost(
                    _from=PublicObjectId(id=deal.id),
                    to=PublicObjectId(id=company.id),
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=341
                        )
                    ],
                )
            ]
        ),
    )
    assert str(created.results[0].from_object_id) == deal.id
    v4.batch_api.create_default(
        "companies",
        "contacts",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                PublicDefaultAssociationMultiPost(
                    _from=PublicObjectId(id=company.id), to=PublicObjectId(id=contact.id)
                )
            ]
        ),
    )
    read = v4.batch_api.get_page(
        "contacts",
        "deals",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=contact.id)]
        ),
    )
    assert str(read.results[0].to[0].to_object_id) == deal.id
    v4.basic_api.archive("contacts", contact.id, "companies", company.id)
    assert v4.basic_api.get_page("contacts", contact.id, "companies").results == []


def test_webhooks_api_with_the_developer_api_key(base_url: str) -> None:
    developer = HubSpot(api_key="sandbox-hubspot-developer-key", host=base_url)
    settings = developer.webhooks.settings_api.configure(
        1000001,
        SettingsChangeRequest(
            target_url="http://127.0.0.1:9/hooks",
            throttling=ThrottlingSettings(max_concurrent_requests=10),
        ),
    )
    assert settings.throttling.max_concurrent_requests == 10
    created = developer.webhooks.subscriptions_api.create(
        1000001,
        SubscriptionCreateRequest(
            event_type="contact.propertyChange", property_name="firstname", active=True
        ),
    )
    listed = developer.webhooks.subscriptions_api.get_all(1000001)
    assert created.id in [s.id for s in listed.results]
    developer.webhooks.subscriptions_api.archive(int(created.id), 1000001)
    developer.webhooks.settings_api.clear(1000001)
