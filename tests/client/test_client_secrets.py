"""No secret and no Authorization header in any message, repr or log line (MockTransport)."""

from __future__ import annotations

import logging
import secrets

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


# -- issue 12, finding 4: normalise first, then redact ---------------------------------

#: Characters a reader does not see (or a terminal swallows), put inside a key to split it.
SPLITTERS = {"zero-width space": "\u200b", "soft hyphen": "\u00ad", "control": "\x01", "escape": "\x1b"}


def _runtime_secret(kind: str = "ADMIN") -> str:
    """A fresh Venice-shaped secret (the module's fixed canaries predate run-time canaries)."""
    return f"VENICE_{kind}_KEY_" + secrets.token_urlsafe(32)


def _split(secret: str, mark: str) -> str:
    """`secret` with `mark` every eight characters, the prefix included."""
    return mark.join(secret[i : i + 8] for i in range(0, len(secret), 8))


def _tails(said: str, *secrets_: str) -> list[str]:
    """The secrets whose last twelve characters are in `said`, in any case."""
    return [s for s in secrets_ if s[-12:].casefold() in said.casefold()]


@pytest.mark.parametrize("mark", list(SPLITTERS.values()), ids=list(SPLITTERS))
async def test_a_key_split_by_invisible_characters_in_an_error_body_is_redacted_whole(mark: str) -> None:
    admin, other = _runtime_secret(), _runtime_secret("INFERENCE")
    message = f"rejected {_split(admin, mark)} and {_split(other, mark)}"
    replies = [
        error(400, message),
        error(400, "bad request", details={"apiKey": {"_errors": [message]}}),
        httpx2.Response(400, content=message.encode(), headers={"content-type": "text/plain"}),
        httpx2.ReadError(message),
    ]
    venice = FakeVenice()
    said: list[str] = []
    async with venice.client(api_key=admin, retry=RetryPolicy.never()) as client:
        for reply in replies:
            venice.reply(reply)
            with pytest.raises(VeniceError) as caught:
                await client.list_keys()
            venice.replies.clear()
            said.append(_everything_said(caught.value))
    for text in said:
        assert not _tails(text, admin, other), text
        assert REDACTED in text


async def test_a_long_random_run_in_an_error_body_is_redacted_but_ids_are_kept() -> None:
    bare = secrets.token_urlsafe(32)  # an unprefixed credential nobody registered
    private = "0x" + secrets.token_hex(32)  # a wallet's private key
    address = "0x" + secrets.token_hex(20)
    message = f"token {bare} for key {KEY_ID} by {address} signed with {private}"
    venice = FakeVenice()
    async with venice.client(retry=RetryPolicy.never()) as client:
        venice.reply(error(400, message))
        with pytest.raises(VeniceError) as caught:
            await client.list_keys()
    said = _everything_said(caught.value)
    assert bare not in said and private[2:] not in said
    assert KEY_ID in said and address in said  # names, not secrets, stay readable


@pytest.mark.parametrize(
    "variant",
    [str.upper, str.lower, lambda s: s.replace("_", "-"), lambda s: s.translate(str.maketrans("-_", "_-"))],
    ids=["upper", "lower", "dashes", "swapped"],
)
def test_redact_removes_a_configured_key_in_any_case_and_with_dashes_swapped(variant) -> None:
    odd = "sk_" + secrets.token_urlsafe(24)  # not Venice-shaped: only the literal can catch it
    venice_shaped = _runtime_secret()
    text = f"echo {variant(odd)} and {variant(venice_shaped)} end"
    assert redact(text, odd) == f"echo {REDACTED} and {REDACTED} end"
