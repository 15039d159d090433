"""API tokens: their format, the role a token carries, and how long a revoked one still works."""

from datetime import UTC, datetime, timedelta

import pytest

from services.cli import TOKEN_ROLES, build_parser
from services.status_api.auth import CACHE_SECONDS, TokenCheck
from services.store.tokens import ApiToken
from services.tokens import ROLES, database_url, digest, id_of, matches, new_token
from services.web import ApiError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issued:
    """The store's token queries, in memory, counting the lookups."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[ApiToken, bytes]] = {}
        self.lookups = 0
        self.touched: list[str] = []

    def issue(self, role: str, last_used_at: datetime | None = None) -> str:
        token_id, token = new_token()
        row = ApiToken(token_id, f"{role}-{token_id}", role, datetime.now(UTC), last_used_at)
        self.rows[token_id] = (row, digest(token))
        return token

    def revoke(self, token: str) -> None:
        del self.rows[str(id_of(token))]

    async def token_digest(self, token_id: str) -> tuple[ApiToken, bytes] | None:
        self.lookups += 1
        return self.rows.get(token_id)

    async def touch_token(self, token_id: str, at_most_every: timedelta) -> None:
        self.touched.append(token_id)


@pytest.fixture
def issued() -> Issued:
    return Issued()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def check(issued: Issued, clock: Clock) -> TokenCheck:
    return TokenCheck("the-admin-token", issued, clock=clock)


async def _status(check: TokenCheck, token: str | None) -> int:
    """401 when the token is refused (checking the answer says how to authenticate), else 200."""
    refused: ApiError | None = None
    try:
        await check.role_of(token)
    except ApiError as exc:
        refused = exc
    if refused is None:
        return 200
    assert refused.code == "unauthorized"
    assert refused.headers == {"WWW-Authenticate": "Bearer"}
    return refused.status


def test_a_new_token_names_its_id_and_differs_each_time():
    (first_id, first), (second_id, second) = new_token(), new_token()
    assert id_of(first) == first_id
    assert id_of(second) == second_id
    assert first != second
    assert len(first) > 40


@pytest.mark.parametrize(
    "token",
    ["", "dst_", "dst_abc_x", "dst_0123456789ab", "dst_0123456789ab_", "xyz_0123456789ab_s"],
)
def test_text_of_another_shape_names_no_token(token: str):
    assert id_of(token) is None


def test_only_the_token_itself_matches_its_digest():
    _, token = new_token()
    assert matches(token, digest(token))
    assert not matches(token + "x", digest(token))
    assert digest(token) != token.encode()


async def test_the_admin_token_from_the_environment_is_an_admin(check: TokenCheck):
    assert await check.role_of("the-admin-token") == "admin"


async def test_an_issued_token_carries_its_role(check: TokenCheck, issued: Issued):
    assert await check.role_of(issued.issue("viewer")) == "viewer"
    assert await check.role_of(issued.issue("admin")) == "admin"


@pytest.mark.parametrize("token", [None, "", "nope", "the-admin-token-not"])
async def test_no_token_or_an_unknown_one_gets_401(check: TokenCheck, token: str | None):
    assert await _status(check, token) == 401


async def test_an_issued_tokens_id_with_another_secret_gets_401(check: TokenCheck, issued: Issued):
    token = issued.issue("admin")
    assert await _status(check, token[:-4] + "AAAA") == 401


async def test_a_viewer_is_refused_a_change_with_403(check: TokenCheck, issued: Issued):
    from fastapi.security import HTTPAuthorizationCredentials

    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=issued.issue("viewer"))
    with pytest.raises(ApiError) as refused:
        await check.admin(credentials)
    assert (refused.value.status, refused.value.code) == (403, "forbidden")


async def test_without_an_admin_token_only_issued_tokens_work(issued: Issued):
    check = TokenCheck(None, issued)
    assert await _status(check, "") == 401
    assert await check.role_of(issued.issue("admin")) == "admin"


async def test_a_revoked_token_works_no_longer_than_the_cache_keeps_it(
    check: TokenCheck, issued: Issued, clock: Clock
):
    token = issued.issue("viewer")
    assert await check.role_of(token) == "viewer"
    issued.revoke(token)
    clock.now += CACHE_SECONDS / 2
    assert await check.role_of(token) == "viewer", "still cached"
    clock.now += CACHE_SECONDS
    assert await _status(check, token) == 401


async def test_a_cached_token_is_not_looked_up_again(
    check: TokenCheck, issued: Issued, clock: Clock
):
    token = issued.issue("viewer")
    for _ in range(3):
        await check.role_of(token)
    assert issued.lookups == 1
    clock.now += CACHE_SECONDS * 2
    await check.role_of(token)
    assert issued.lookups == 2


async def test_last_use_is_written_only_when_the_stored_one_is_old(
    check: TokenCheck, issued: Issued
):
    fresh = issued.issue("viewer", last_used_at=datetime.now(UTC))
    stale = issued.issue("viewer", last_used_at=datetime.now(UTC) - timedelta(hours=1))
    never = issued.issue("viewer")
    for token in (fresh, stale, never):
        await check.role_of(token)
    assert issued.touched == [id_of(stale), id_of(never)]


def test_the_command_line_offers_the_roles_tokens_carry():
    assert TOKEN_ROLES == ROLES
    args = build_parser().parse_args(["token", "create", "--role", "viewer", "--name", "ci"])
    assert (args.service, args.action, args.role, args.name) == ("token", "create", "viewer", "ci")
    assert build_parser().parse_args(["token", "revoke", "ci"]).token == "ci"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["token", "create", "--role", "owner"])


def test_the_command_reaches_the_embedded_database_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("DATASYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATASYNC_DB_PORT", "25432")
    assert database_url() == "postgresql://postgres@127.0.0.1:25432/datasync"
    monkeypatch.setenv("DATASYNC_DATABASE_URL", "postgresql://u:p@db:5432/x")
    assert database_url() == "postgresql://u:p@db:5432/x"
