"""Tokens made with `datasync token`, kept in PostgreSQL, and what the API lets each one do."""

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from services.cli import build_parser
from services.status_api.app import create_app
from services.store.migrate import migrate
from services.store.repository import Store
from services.store.tokens import TokenNameTaken
from services.tokens import CommandError, create_token, execute

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    yield store
    await store.close()


@pytest_asyncio.fixture(scope="module")
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, "env-admin-token")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["token", *argv])


# The store ---------------------------------------------------------------------------------


async def test_a_token_is_stored_as_a_digest_only(store: Store):
    stored, token = await create_token(store, "viewer", "digest-only")
    row = await store.pool.fetchrow("SELECT * FROM api_tokens WHERE id = $1", stored.id)
    assert row is not None
    assert all(token not in str(value) for value in dict(row).values())
    assert bytes(row["token_hash"]) != token.encode()


async def test_token_names_are_unique(store: Store):
    await create_token(store, "viewer", "twice")
    with pytest.raises(TokenNameTaken):
        await create_token(store, "admin", "twice")


async def test_a_token_is_revoked_by_name_or_by_id(store: Store):
    by_name, _ = await create_token(store, "viewer", "revoke-by-name")
    by_id, _ = await create_token(store, "viewer", "revoke-by-id")
    assert (await store.revoke_token("revoke-by-name")) == by_name
    assert (await store.revoke_token(by_id.id)) == by_id
    listed = {t.id for t in await store.list_tokens()}
    assert not listed & {by_name.id, by_id.id}
    assert await store.revoke_token("revoke-by-name") is None


# The API -----------------------------------------------------------------------------------


async def test_a_viewer_token_reads_and_is_refused_changes_with_403(
    store: Store, api: httpx.AsyncClient
):
    _, token = await create_token(store, "viewer", "reader")
    assert (await api.get("/v1/connections", headers=_bearer(token))).status_code == 200
    for method, path in [
        ("PUT", "/v1/hubspot"),
        ("POST", "/v1/connections"),
        ("DELETE", "/v1/connections/any"),
        ("PUT", "/v1/connections/any/syncs/contacts"),
        ("POST", "/v1/connections/any/syncs/contacts/start"),
    ]:
        response = await api.request(method, path, headers=_bearer(token), json={})
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "forbidden"


async def test_an_issued_admin_token_may_change_things(store: Store, api: httpx.AsyncClient):
    _, token = await create_token(store, "admin", "changer")
    response = await api.delete("/v1/connections/none-such", headers=_bearer(token))
    assert response.status_code == 404, "past the token check: the connection is unknown"


async def test_the_environments_admin_token_still_works(api: httpx.AsyncClient):
    response = await api.delete("/v1/connections/none-such", headers=_bearer("env-admin-token"))
    assert response.status_code == 404


async def test_a_revoked_token_gets_401(store: Store, api: httpx.AsyncClient):
    stored, token = await create_token(store, "admin", "revoked-first")
    await store.revoke_token(stored.id)
    response = await api.get("/v1/connections", headers=_bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_token_in_use_shows_when_it_was_last_used(store: Store, api: httpx.AsyncClient):
    stored, token = await create_token(store, "viewer", "used")
    assert stored.last_used_at is None
    await api.get("/v1/connections", headers=_bearer(token))
    (listed,) = [t for t in await store.list_tokens() if t.id == stored.id]
    assert listed.last_used_at is not None


async def test_the_schema_declares_the_bearer_scheme_and_the_error_body(api: httpx.AsyncClient):
    spec = (await api.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            assert operation["security"] == [{"HTTPBearer": []}], label
            assert operation.get("summary"), label
            assert operation.get("description"), label
            assert "401" in operation["responses"], label
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, label
            if method in ("put", "post", "delete"):
                assert "403" in operation["responses"], label


async def test_the_schema_has_examples_of_the_request_bodies(api: httpx.AsyncClient):
    spec = (await api.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert schemas["ConnectionIn"]["examples"]
    assert schemas["HubSpotAccountIn"]["examples"]
    sync = spec["paths"]["/v1/connections/{cid}/syncs/{obj}"]["put"]["requestBody"]
    assert set(sync["content"]["application/json"]["examples"]) >= {"defaults", "customers"}


# The command -------------------------------------------------------------------------------


async def test_the_command_creates_lists_and_revokes_tokens(
    database_url: str, api: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
):
    await execute(_args("create", "--role", "viewer", "--name", "from the command"), database_url)
    out, err = capsys.readouterr()
    token = out.strip()
    assert "shown only this once" in err
    assert (await api.get("/v1/connections", headers=_bearer(token))).status_code == 200

    await execute(_args("list"), database_url)
    listing = capsys.readouterr().out
    assert "from the command" in listing
    assert "viewer" in listing
    assert token not in listing

    await execute(_args("revoke", "from the command"), database_url)
    assert "revoked viewer token 'from the command'" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no token"):
        await execute(_args("revoke", "from the command"), database_url)


async def test_the_command_refuses_a_name_taken_or_malformed(database_url: str):
    await execute(_args("create", "--role", "admin", "--name", "taken"), database_url)
    with pytest.raises(CommandError, match="exists already"):
        await execute(_args("create", "--role", "admin", "--name", "taken"), database_url)
    with pytest.raises(CommandError, match="token name"):
        await execute(_args("create", "--role", "admin", "--name", "tab\there"), database_url)


async def test_the_command_says_when_the_store_is_unreachable(free_ports):
    (port,) = free_ports(1)
    with pytest.raises(CommandError, match="cannot reach the state store"):
        await execute(_args("list"), f"postgresql://postgres@127.0.0.1:{port}/datasync")


async def test_datasync_token_create_prints_only_the_token(database_url: str):
    env = {**os.environ, "DATASYNC_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "token",
        "create",
        "--role",
        "viewer",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    (line,) = out.decode().splitlines()
    assert line.startswith("dst_")
    assert line not in err.decode()
