"""How Venice's error answers and unreadable answers map to the exception tree (MockTransport)."""

from __future__ import annotations

import json

import httpx2
import pytest
from fake_venice import CREATED_JSON, KEY_ID, NEW_SECRET, FakeVenice, answer, error

from venice_keys_mcp.venice import (
    AbuseBlocked,
    AdminKeyRequired,
    AuthenticationFailed,
    CreateKeyRequest,
    EndpointNotFound,
    InvalidRequest,
    KeyLimitReached,
    KeyNotFound,
    LimitsInput,
    MalformedResponse,
    OutcomeUnknown,
    PaymentRequired,
    RateLimited,
    RetryPolicy,
    UpdateKeyRequest,
    VeniceError,
    VeniceUnavailable,
    Web3MintRequest,
    Web3Rejected,
)
from venice_keys_mcp.venice._wire import MAX_BODY_BYTES

pytestmark = pytest.mark.anyio

NO_RETRY = RetryPolicy.never()
CREATE = CreateKeyRequest(
    api_key_type="INFERENCE", description="new key", consumption_limit=LimitsInput(usd=10)
)
MINT = Web3MintRequest(address="0xabc", signature="0xsig", token="t.o.k", api_key_type="INFERENCE")


@pytest.fixture
def venice() -> FakeVenice:
    return FakeVenice()


@pytest.mark.parametrize(
    ("status", "message", "expected", "words"),
    [
        (402, "Payment required", PaymentRequired, "VENICE_ADMIN_KEY"),
        (401, "Authentication failed", AuthenticationFailed, "invalid, revoked or expired"),
        (401, "Admin API key required", AdminKeyRequired, "INFERENCE key"),
        (403, "Forbidden", AuthenticationFailed, "Check VENICE_ADMIN_KEY"),
        (400, "API key not found or expired", KeyNotFound, "list_keys"),
        (400, "Invalid request", InvalidRequest, "Invalid request"),
        (413, "Payload too large", InvalidRequest, "Payload too large"),
        (422, "Unprocessable", InvalidRequest, "Unprocessable"),
        (429, "Rate limit exceeded", RateLimited, "Try again"),
        (
            429,
            "Too many failed attempts (> 20) resulting in a non-success status code.",
            AbuseBlocked,
            "30 s",
        ),
        (500, "An unknown error occurred", VeniceUnavailable, "try again in a few minutes"),
        (501, "Not implemented", VeniceUnavailable, "HTTP 501"),
        (404, "Not Found", EndpointNotFound, "VENICE_BASE_URL"),
        (405, "Method Not Allowed", EndpointNotFound, "VENICE_BASE_URL"),
        (301, "Moved", EndpointNotFound, "VENICE_BASE_URL"),
    ],
)
async def test_read_errors_map_to_the_tree(
    venice: FakeVenice, status: int, message: str, expected: type[Exception], words: str
) -> None:
    venice.reply(error(status, message))
    async with venice.client(retry=NO_RETRY) as client:
        with pytest.raises(expected) as caught:
            await client.get_key(KEY_ID)
    assert type(caught.value) is expected
    assert words in str(caught.value)
    assert caught.value.status == status  # type: ignore[attr-defined]


async def test_key_not_found_names_the_id(venice: FakeVenice) -> None:
    venice.reply(error(400, "API key could not be found"))
    async with venice.client() as client:
        with pytest.raises(KeyNotFound) as caught:
            await client.delete_key(KEY_ID)
    assert KEY_ID in str(caught.value)


async def test_key_limit_is_its_own_error(venice: FakeVenice) -> None:
    venice.reply(error(400, "You have reached the maximum of 500 active API keys"))
    async with venice.client() as client:
        with pytest.raises(KeyLimitReached, match="revoke unused keys"):
            await client.create_key(CREATE)


async def test_validation_details_are_rendered_briefly(venice: FakeVenice) -> None:
    details = {"_errors": [], "description": {"_errors": ["String must contain at most 64 character(s)"]}}
    venice.reply(error(400, "Invalid request parameters", details=details))
    async with venice.client() as client:
        with pytest.raises(InvalidRequest) as caught:
            await client.create_key(CREATE)
    assert "description: String must contain at most 64 character(s)" in str(caught.value)
    assert caught.value.detail.startswith("Invalid request parameters")


@pytest.mark.parametrize(
    ("message", "transient"),
    [("Could not verify wallet signature", True), ("Wallet has no staked VVV on Base", False)],
)
async def test_web3_400s_are_web3_rejected(venice: FakeVenice, message: str, transient: bool) -> None:
    venice.reply(error(400, message))
    async with venice.client() as client:
        with pytest.raises(Web3Rejected) as caught:
            await client.mint_web3_key(MINT)
    assert caught.value.transient is transient


async def test_error_text_is_cleaned_and_shortened(venice: FakeVenice) -> None:
    venice.reply(error(400, "bad\x1b[31m input\u200b\n" + "x" * 2000))
    async with venice.client() as client:
        with pytest.raises(InvalidRequest) as caught:
            await client.list_keys()
    text = str(caught.value)
    assert "\x1b" not in text and "\u200b" not in text and "\n" not in text
    assert len(caught.value.detail) <= 300


async def test_error_without_json_body_still_maps(venice: FakeVenice) -> None:
    venice.reply(
        httpx2.Response(502, content=b"<html>bad gateway</html>", headers={"content-type": "text/html"})
    )
    async with venice.client(retry=NO_RETRY) as client:
        with pytest.raises(VeniceUnavailable) as caught:
            await client.list_keys()
    assert "<html>" not in str(caught.value)


# ---- unreadable 2xx answers ------------------------------------------------------------------


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (httpx2.Response(200, content=b'{"object": "list", "data": [', headers=JSON), "not valid JSON"),
        (
            httpx2.Response(200, content=b"<html>hi</html>", headers={"content-type": "text/html"}),
            "text/html",
        ),
        (answer(200, {"object": "list", "data": [{"id": 3}]}), "does not match"),
        (answer(200, {"object": "list"}), '{"data": ...}'),
        (answer(200, ["not", "an", "object"]), '{"data": ...}'),
        (httpx2.Response(200, content=b" " * (MAX_BODY_BYTES + 1), headers=JSON), "5 MiB"),
    ],
)
async def test_unreadable_read_answers_are_malformed(
    venice: FakeVenice, reply: httpx2.Response, words: str
) -> None:
    venice.reply(reply)
    async with venice.client() as client:
        with pytest.raises(MalformedResponse) as caught:
            await client.list_keys()
    assert words in str(caught.value)
    assert venice.count() == 1


async def test_oversized_body_announced_by_content_length_is_refused(venice: FakeVenice) -> None:
    async def huge(_: httpx2.Request) -> httpx2.Response:
        stream = httpx2.ByteStream(b"{}")
        return httpx2.Response(
            200,
            stream=stream,
            headers={"content-type": "application/json", "content-length": str(10 * MAX_BODY_BYTES)},
        )

    venice.reply(huge)
    async with venice.client() as client:
        with pytest.raises(MalformedResponse, match="5 MiB"):
            await client.get_rate_limits()


async def test_create_with_garbage_answer_is_outcome_unknown_with_recovery_advice(venice: FakeVenice) -> None:
    venice.reply(httpx2.Response(200, content=b'{"success": true, "data": {"id": "5b1c', headers={}))
    async with venice.client() as client:
        with pytest.raises(OutcomeUnknown) as caught:
            await client.create_key(CREATE)
    unknown = caught.value
    assert unknown.operation == "create"
    assert unknown.request == CREATE.to_body()
    assert "revoke it" in str(unknown) and "not valid JSON" in str(unknown)


async def test_create_answer_with_secret_but_wrong_shape_still_delivers_the_secret(
    venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {**CREATED_JSON, "limitPeriod": "FORTNIGHT"}
    del broken["consumptionLimit"]
    venice.reply(answer(200, {"success": True, "data": broken}))
    async with venice.client() as client:
        created = await client.create_key(CREATE)
    assert created.secret == NEW_SECRET
    assert created.consumption_limit.usd == 10  # filled from the request that was sent
    assert created.limit_period == "EPOCH"
    assert "kept new key" in caplog.text and NEW_SECRET not in caplog.text


async def test_create_answer_with_wrong_content_type_still_delivers_the_secret(venice: FakeVenice) -> None:
    body = json.dumps({"success": True, "data": CREATED_JSON}).encode()
    venice.reply(httpx2.Response(200, content=body, headers={"content-type": "text/plain"}))
    async with venice.client() as client:
        created = await client.create_key(CREATE)
    assert created.secret == NEW_SECRET


async def test_mint_with_unreadable_answer_is_outcome_unknown(venice: FakeVenice) -> None:
    venice.reply(answer(200, {"success": True, "data": {"id": "x", "apiKey": "not-a-venice-secret"}}))
    async with venice.client() as client:
        with pytest.raises(OutcomeUnknown) as caught:
            await client.mint_web3_key(MINT)
    assert caught.value.operation == "mint"
    assert "token" not in caught.value.request and "signature" not in caught.value.request


async def test_update_with_unreadable_answer_says_it_was_probably_applied(venice: FakeVenice) -> None:
    venice.reply(answer(200, {"success": True, "data": {"id": KEY_ID}}))
    async with venice.client() as client:
        with pytest.raises(MalformedResponse) as caught:
            await client.update_key(UpdateKeyRequest(id=KEY_ID, description="renamed"))
    assert (caught.value.operation, caught.value.key_id) == ("update", KEY_ID)
    assert "most likely applied" in str(caught.value) and "get_key" in str(caught.value)


@pytest.mark.parametrize("body", [{"success": False}, {"ok": True}, None])
async def test_delete_without_success_true_is_malformed(venice: FakeVenice, body: object) -> None:
    venice.reply(answer(200, body))
    async with venice.client() as client:
        with pytest.raises(MalformedResponse) as caught:
            await client.delete_key(KEY_ID)
    assert (caught.value.operation, caught.value.key_id) == ("delete", KEY_ID)
    assert "list_keys" in str(caught.value)


async def test_every_error_is_a_venice_error(venice: FakeVenice) -> None:
    venice.reply(httpx2.UnsupportedProtocol("nope"))
    async with venice.client() as client:
        with pytest.raises(VeniceError):
            await client.list_keys()


async def test_create_answer_naming_only_the_id_gives_that_id_for_reconciliation(venice: FakeVenice) -> None:
    venice.reply(answer(200, {"success": True, "data": {"id": "0f6c3a52-aaaa"}}))
    async with venice.client() as client:
        with pytest.raises(OutcomeUnknown) as caught:
            await client.create_key(CREATE)
    assert caught.value.key_id == "0f6c3a52-aaaa"
    assert "0f6c3a52-aaaa" in str(caught.value)


async def test_delete_answered_204_no_content_is_success(venice: FakeVenice) -> None:
    venice.reply(httpx2.Response(204))
    async with venice.client() as client:
        assert await client.delete_key(KEY_ID) is None
