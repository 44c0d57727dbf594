"""No secret and no Authorization header in any message, repr or log line (MockTransport)."""

from __future__ import annotations

import logging

import httpx2
import pytest
from fake_venice import KEY_ID, FakeVenice, answer, error

from venice_keys_mcp.venice import (
    CreateKeyRequest,
    RetryPolicy,
    UpdateKeyRequest,
    VeniceError,
    Web3MintRequest,
)
from venice_keys_mcp.venice._redact import REDACTED, SECRET_PATTERN, redact

pytestmark = pytest.mark.anyio

CANARY = "VENICE_ADMIN_KEY_canary7f3e9d2c1b0a"
ODD_CANARY = "sk-not-venice-shaped-canary-42"  # a configured key that does not look like Venice's
OTHER_SECRET = "VENICE_INFERENCE_KEY_someoneElses0123456789"


def _hostile_replies(secret: str) -> list[object]:
    """Answers that echo secrets and the header back, one per kind of failure."""
    echo = f"key {secret} with Authorization: Bearer {secret} and {OTHER_SECRET} rejected"
    return [
        error(400, echo, details={"apiKey": {"_errors": [f"bad {secret}"]}}),
        error(401, echo),
        error(401, f"Admin API key required for {secret}"),
        error(402, echo),
        error(429, echo),
        error(429, f"Too many failed attempts (> 20) {secret}"),
        error(503, echo),
        error(502, echo),
        error(404, echo),
        httpx2.Response(400, content=echo.encode(), headers={"content-type": "text/plain"}),
        httpx2.ReadError(echo),
        httpx2.ConnectError(echo),
        httpx2.LocalProtocolError(f"Illegal header value b'Bearer {secret}'"),
        answer(200, {"object": "list", "data": [{"id": secret}]}),
        httpx2.Response(200, content=echo.encode(), headers={"content-type": "application/json"}),
        answer(200, {"success": True, "data": {"id": "k", "apiKey": secret, "apiKeyType": 7}}),
    ]


async def _provoke(venice: FakeVenice, secret: str) -> list[BaseException]:
    caught: list[BaseException] = []
    calls = [
        lambda c: c.list_keys(),
        lambda c: c.get_key(KEY_ID),
        lambda c: c.create_key(CreateKeyRequest(api_key_type="ADMIN", description="canary")),
        lambda c: c.update_key(UpdateKeyRequest(id=KEY_ID, description="canary")),
        lambda c: c.delete_key(KEY_ID),
        lambda c: c.mint_web3_key(
            Web3MintRequest(address="0xabc", signature=secret, token=secret, api_key_type="ADMIN")
        ),
    ]
    async with venice.client(api_key=secret, retry=RetryPolicy.never()) as client:
        for reply in _hostile_replies(secret):
            for call in calls:
                venice.reply(reply)
                try:
                    await call(client)
                except VeniceError as exc:
                    caught.append(exc)
                venice.replies.clear()
        with pytest.raises(ValueError) as bad_id:
            await client.get_key(secret)
        caught.append(bad_id.value)
    return caught


def _everything_said(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), repr(exc.args)]
    parts += [repr(v) for v in vars(exc).values()]
    cause = exc.__cause__
    while cause is not None:
        parts += [str(cause), repr(cause)]
        cause = cause.__cause__
    return "\n".join(parts)


@pytest.mark.parametrize("secret", [CANARY, ODD_CANARY])
async def test_no_error_or_log_line_contains_a_secret_or_bearer(
    secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    venice = FakeVenice()
    errors = await _provoke(venice, secret)
    assert len(errors) > 60
    for exc in errors:
        said = _everything_said(exc)
        assert secret not in said, said
        assert OTHER_SECRET not in said, said
        assert "Bearer " not in said, said
    logged = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    assert secret not in logged and OTHER_SECRET not in logged and "Bearer " not in logged
    assert "GET /api_keys" in logged  # the request lines are there, just clean


async def test_created_secret_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    venice = FakeVenice()
    async with venice.client() as client:
        created = await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="x"))
    assert created.secret not in caplog.text
    assert created.secret not in repr(created)


def test_redact_replaces_venice_secrets_bearer_values_and_extras() -> None:
    text = f"a {CANARY} b Bearer abc.def-ghi c {ODD_CANARY} d"
    cleaned = redact(text, ODD_CANARY, "")
    assert cleaned == f"a {REDACTED} b {REDACTED} c {REDACTED} d"
    assert SECRET_PATTERN.fullmatch(OTHER_SECRET)
    assert redact("nothing secret here") == "nothing secret here"


def test_redact_removes_the_longer_of_overlapping_secrets_whole() -> None:
    assert redact("xx-secret-long yy", "secret", "xx-secret-long") == f"{REDACTED} yy"
