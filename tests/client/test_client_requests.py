"""What the client sends and what it returns, against a scripted Venice (MockTransport)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fake_venice import ADMIN_SECRET, CREATED_JSON, KEY_ID, NEW_SECRET, FakeVenice, answer
from pydantic import ValidationError

from venice_keys_mcp.venice import (
    ApiKey,
    CreatedKey,
    CreateKeyRequest,
    LimitsInput,
    NotConfigured,
    UpdateKeyRequest,
    VeniceClient,
    Web3MintRequest,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def venice() -> FakeVenice:
    return FakeVenice()


async def test_admin_routes_send_bearer_key_and_user_agent(venice: FakeVenice) -> None:
    async with venice.client() as client:
        await client.list_keys()
    sent = venice.requests[0]
    assert sent.headers["authorization"] == f"Bearer {ADMIN_SECRET}"
    assert sent.headers["user-agent"].startswith("venice-keys-mcp/")
    assert sent.headers["accept"] == "application/json"
    assert str(sent.url) == "https://venice.test/api/v1/api_keys"


async def test_web3_routes_never_send_the_configured_key(venice: FakeVenice) -> None:
    async with venice.client() as client:
        token = await client.get_web3_token()
        await client.mint_web3_key(
            Web3MintRequest(address="0xabc", signature="0xsig", token=token, api_key_type="INFERENCE")
        )
    assert token == "header.payload.sig"
    assert all("authorization" not in r.headers for r in venice.requests)


async def test_every_read_endpoint_returns_typed_models(venice: FakeVenice) -> None:
    async with venice.client() as client:
        keys = await client.list_keys()
        one = await client.get_key(KEY_ID)
        limits = await client.get_rate_limits()
        log = await client.get_breach_log()
    assert [k.id for k in keys] == [KEY_ID]
    assert isinstance(one, ApiKey) and one.consumption_limits.usd == 50
    assert limits.access_permitted and limits.balances.usd == 12.5
    assert limits.rate_limits[0].rate_limits[0].type == "RPM"
    assert log[0].rate_limit_type == "RPM"


async def test_create_sends_only_set_fields_and_returns_the_secret(venice: FakeVenice) -> None:
    request = CreateKeyRequest(
        api_key_type="INFERENCE", description="new key", consumption_limit=LimitsInput(usd=10)
    )
    async with venice.client() as client:
        created = await client.create_key(request)
    assert json.loads(venice.requests[0].content) == {
        "apiKeyType": "INFERENCE",
        "description": "new key",
        "consumptionLimit": {"usd": 10.0},
    }
    assert isinstance(created, CreatedKey)
    assert created.secret == NEW_SECRET and created.last6 == NEW_SECRET[-6:]
    assert created.consumption_limit.usd == 10
    assert NEW_SECRET not in repr(created)


async def test_update_sends_explicit_null_to_remove_a_cap(venice: FakeVenice) -> None:
    request = UpdateKeyRequest(id=KEY_ID, expires_at=None, consumption_limit=LimitsInput(usd=None))
    async with venice.client() as client:
        updated = await client.update_key(request)
    sent = venice.requests[0]
    assert sent.method == "PATCH"
    assert json.loads(sent.content) == {"id": KEY_ID, "expiresAt": None, "consumptionLimit": {"usd": None}}
    assert updated.id == KEY_ID


async def test_delete_sends_the_id_as_query_parameter(venice: FakeVenice) -> None:
    async with venice.client() as client:
        assert await client.delete_key(KEY_ID) is None
    sent = venice.requests[0]
    assert sent.method == "DELETE" and sent.url.params["id"] == KEY_ID
    assert sent.content == b""


async def test_get_key_refuses_path_breaking_ids_instead_of_quoting_them(venice: FakeVenice) -> None:
    """`a/b?c` once went out quoted; no Venice id looks like that, so it is refused (issue 12, finding 6)."""
    async with venice.client() as client:
        for odd in ("a/b?c", "a%2Fb", "..", "a.b"):
            with pytest.raises(ValueError, match="key id"):
                await client.get_key(odd)
        assert venice.requests == []
        await client.get_key("A-b_9")
    assert venice.requests[0].url.raw_path == b"/api/v1/api_keys/A-b_9"


async def test_last_rate_limit_comes_from_the_last_response_headers(venice: FakeVenice) -> None:
    reset = 1_900_000_000
    venice.reply(
        answer(
            200,
            {"object": "list", "data": []},
            headers={
                "x-ratelimit-limit-requests": "100",
                "x-ratelimit-remaining-requests": "97",
                "x-ratelimit-reset-requests": str(reset),
            },
        )
    )
    async with venice.client() as client:
        assert client.last_rate_limit is None
        await client.list_keys()
        seen = client.last_rate_limit
        assert seen is not None
        assert (seen.limit, seen.remaining) == (100, 97)
        assert seen.reset_at == datetime.fromtimestamp(reset, UTC)
        await client.list_keys()
        assert client.last_rate_limit is None


@pytest.mark.parametrize(
    "call",
    [
        "list_keys",
        "get_key",
        "get_rate_limits",
        "get_breach_log",
        "create_key",
        "update_key",
        "delete_key",
    ],
)
async def test_routes_that_need_a_key_raise_not_configured_before_sending(
    venice: FakeVenice, call: str
) -> None:
    args = {
        "get_key": (KEY_ID,),
        "delete_key": (KEY_ID,),
        "create_key": (CreateKeyRequest(api_key_type="INFERENCE", description="x"),),
        "update_key": (UpdateKeyRequest(id=KEY_ID, description="y"),),
    }.get(call, ())
    async with venice.client(api_key=None) as client:
        with pytest.raises(NotConfigured) as caught:
            await getattr(client, call)(*args)
    assert venice.requests == []
    assert "VENICE_ADMIN_KEY" in str(caught.value)


async def test_blank_key_counts_as_not_configured(venice: FakeVenice) -> None:
    async with venice.client(api_key="   ") as client:
        with pytest.raises(NotConfigured):
            await client.get_rate_limits()
        assert await client.get_web3_token()
    assert venice.count() == 1


@pytest.mark.parametrize(
    "build",
    [
        lambda: CreateKeyRequest(api_key_type="INFERENCE", description="x" * 65),
        lambda: CreateKeyRequest(api_key_type="SUPER", description="x"),  # type: ignore[arg-type]
        lambda: CreateKeyRequest(api_key_type="INFERENCE", description=""),
        lambda: CreateKeyRequest(api_key_type="INFERENCE", description="x", surprise=1),  # type: ignore[call-arg]
        lambda: UpdateKeyRequest(id=KEY_ID, consumption_limit=LimitsInput(usd=-1)),
        lambda: UpdateKeyRequest(id=KEY_ID, consumption_limit=LimitsInput(diem=10**11)),
        lambda: UpdateKeyRequest(id=""),
    ],
)
async def test_invalid_request_models_are_refused_before_any_request(build: object) -> None:
    with pytest.raises(ValidationError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "bad_id", ["", " ", "..", "x" * 129, "id\nwith newline", "VENICE_ADMIN_KEY_oops1234"]
)
async def test_bad_key_ids_are_refused_before_any_request(venice: FakeVenice, bad_id: str) -> None:
    async with venice.client() as client:
        for call in (client.get_key, client.delete_key):
            with pytest.raises(ValueError):
                await call(bad_id)
        with pytest.raises(ValueError):
            await client.update_key(UpdateKeyRequest.model_construct(id=bad_id))
    assert venice.requests == []


def test_client_refuses_a_base_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="http"):
        VeniceClient("k", "ftp://example.com/api/v1")
    with pytest.raises(ValueError, match="control"):
        VeniceClient("VENICE_ADMIN_KEY_abc\nX-Evil: 1")


def test_client_repr_shows_neither_key_nor_url_credentials() -> None:
    client = VeniceClient(ADMIN_SECRET, "https://user:hunter2@venice.test/api/v1?token=zzz")
    shown = repr(client)
    assert ADMIN_SECRET not in shown and "hunter2" not in shown and "zzz" not in shown
    assert "venice.test/api/v1" in shown


async def test_created_key_parses_the_documented_create_shape(venice: FakeVenice) -> None:
    venice.reply(
        answer(200, {"success": True, "data": {**CREATED_JSON, "expiresAt": "2026-05-01T00:00:00.000Z"}})
    )
    async with venice.client() as client:
        created = await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="new key"))
    assert created.expires_at == datetime(2026, 5, 1, tzinfo=UTC)
