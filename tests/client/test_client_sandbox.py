"""The client against the real sandbox, over a loopback socket (plus two in-process cases).

Faults are injected through the sandbox's `/_sandbox/faults` control; a counting
transport proves what was (not) retried, and the sandbox's own state proves what
really happened to the keys.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fake_venice import CountingTransport
from support.sandbox_process import SandboxProcess, running_sandbox

from tests.client.conftest import FAST, Connect
from venice_keys_mcp.sandbox import asgi_transport, create_app, seeded_state
from venice_keys_mcp.venice import (
    AdminKeyRequired,
    AuthenticationFailed,
    CreateKeyRequest,
    EndpointNotFound,
    InvalidRequest,
    KeyLimitReached,
    KeyNotFound,
    LimitsInput,
    MalformedResponse,
    NetworkError,
    NotConfigured,
    OutcomeUnknown,
    RateLimited,
    RetryClock,
    RetryPolicy,
    UpdateKeyRequest,
    VeniceClient,
    VeniceError,
    VeniceUnavailable,
    Web3MintRequest,
    Web3Rejected,
)

pytestmark = pytest.mark.anyio


class WaitLog(RetryClock):
    """The real clock, noting when each retry wait was set to end (wall-clock seconds)."""

    def __init__(self) -> None:
        self.resumes: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.resumes.append(self.now().timestamp() + seconds)
        await super().sleep(seconds)


def _sign(token: str, private_key: str) -> str:
    signed = Account.sign_message(encode_defunct(text=token), private_key=private_key)
    return "0x" + bytes(signed.signature).hex()


# ---- happy paths -----------------------------------------------------------------------------


async def test_every_endpoint_works_over_loopback(sandbox: SandboxProcess, connect: Connect) -> None:
    client, _ = connect()
    keys = await client.list_keys()
    assert sandbox.admin_key_id in {k.id for k in keys}
    assert all(k.last6 and len(k.last6) == 6 for k in keys)

    me = await client.get_key(sandbox.admin_key_id)
    assert me.api_key_type == "ADMIN" and sandbox.admin_key.endswith(me.last6)

    limits = await client.get_rate_limits()
    assert limits.access_permitted is True
    assert isinstance(await client.get_breach_log(), list)
    assert client.last_rate_limit is not None and client.last_rate_limit.limit

    created = await client.create_key(
        CreateKeyRequest(
            api_key_type="INFERENCE",
            description="client loopback",
            consumption_limit=LimitsInput(usd=25),
            limit_period="MONTH",
            expires_at=(datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d"),
        )
    )
    assert created.secret.startswith("VENICE_INFERENCE_KEY_")
    assert created.consumption_limit.usd == 25 and created.limit_period == "MONTH"

    capped = await client.update_key(UpdateKeyRequest(id=created.id, description="renamed"))
    assert capped.description == "renamed" and capped.consumption_limits.usd == 25
    uncapped = await client.update_key(
        UpdateKeyRequest(id=created.id, consumption_limit=LimitsInput(usd=None), expires_at=None)
    )
    assert uncapped.consumption_limits.usd is None and uncapped.expires_at is None
    assert (await client.get_key(created.id)).consumption_limits.usd is None

    await client.delete_key(created.id)
    assert created.id not in {k.id for k in await client.list_keys()}


async def test_any_key_type_may_read_its_rate_limits(sandbox: SandboxProcess, connect: Connect) -> None:
    client, _ = connect(sandbox.inference_key)
    assert (await client.get_rate_limits()).access_permitted is True


async def test_web3_token_and_mint_work_without_an_api_key(sandbox: SandboxProcess, connect: Connect) -> None:
    client, _ = connect(None)
    token = await client.get_web3_token()
    minted = await client.mint_web3_key(
        Web3MintRequest(
            address=sandbox.wallet_address,
            signature=_sign(token, sandbox.wallet_private_key),
            token=token,
            api_key_type="INFERENCE",
            description="minted by wallet",
        )
    )
    assert minted.secret.startswith("VENICE_INFERENCE_KEY_")
    admin, _ = connect()
    assert (await admin.get_key(minted.id)).description == "minted by wallet"
    await admin.delete_key(minted.id)


# ---- errors ----------------------------------------------------------------------------------


async def test_no_key_raises_not_configured_and_sends_nothing(connect: Connect) -> None:
    client, counter = connect(None)
    with pytest.raises(NotConfigured):
        await client.list_keys()
    with pytest.raises(NotConfigured):
        await client.get_rate_limits()
    assert counter.count() == 0


async def test_inference_key_on_admin_route_is_admin_key_required(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    client, counter = connect(sandbox.inference_key)
    with pytest.raises(AdminKeyRequired, match="ADMIN key"):
        await client.list_keys()
    assert counter.count() == 1


async def test_bad_key_is_authentication_failed(connect: Connect) -> None:
    client, counter = connect("VENICE_ADMIN_KEY_" + secrets.token_urlsafe(24))  # no such key
    with pytest.raises(AuthenticationFailed) as caught:
        await client.list_keys()
    assert type(caught.value) is AuthenticationFailed
    assert counter.count() == 1


async def test_unknown_id_is_key_not_found_everywhere(connect: Connect) -> None:
    client, _ = connect()
    ghost = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(KeyNotFound, match=ghost):
        await client.get_key(ghost)
    with pytest.raises(KeyNotFound):
        await client.update_key(UpdateKeyRequest(id=ghost, description="x"))
    with pytest.raises(KeyNotFound):
        await client.delete_key(ghost)


async def test_wrong_base_url_says_check_venice_base_url(sandbox: SandboxProcess, connect: Connect) -> None:
    client, _ = connect(base_url=sandbox.origin + "/v2")
    with pytest.raises(EndpointNotFound, match="VENICE_BASE_URL"):
        await client.list_keys()


async def test_web3_refusals_are_web3_rejected(sandbox: SandboxProcess, connect: Connect) -> None:
    client, _ = connect(None)
    token = await client.get_web3_token()
    unstaked = Web3MintRequest(
        address=sandbox.unstaked_wallet_address,
        signature=_sign(token, sandbox.unstaked_wallet_private_key),
        token=token,
        api_key_type="INFERENCE",
    )
    with pytest.raises(Web3Rejected) as caught:
        await client.mint_web3_key(unstaked)
    assert caught.value.transient is False and "staked" in str(caught.value)

    sandbox.control("/_sandbox/faults", {"wallet_verification_down": True})
    staked = unstaked.model_copy(
        update={"address": sandbox.wallet_address, "signature": _sign(token, sandbox.wallet_private_key)}
    )
    with pytest.raises(Web3Rejected) as caught:
        await client.mint_web3_key(staked)
    assert caught.value.transient is True


async def test_21st_create_in_a_minute_is_rate_limited_with_reset_at() -> None:
    with running_sandbox() as fresh:  # its own process: the 20-a-minute window stays full after this
        async with VeniceClient(fresh.admin_key, fresh.base_url, retry=FAST) as client:
            for n in range(20):
                await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description=f"burst {n}"))
            with pytest.raises(RateLimited) as caught:
                await client.create_key(
                    CreateKeyRequest(api_key_type="INFERENCE", description="one too many")
                )
    reset_at = caught.value.reset_at
    assert reset_at is not None
    assert datetime.now(UTC) < reset_at <= datetime.now(UTC) + timedelta(seconds=61)
    assert "Try again after" in str(caught.value)


async def test_500_active_keys_is_key_limit_reached() -> None:
    state = seeded_state(key_count=500)
    async with VeniceClient(
        state.demo.admin_key, "http://sandbox.local/api/v1", transport=asgi_transport(create_app(state))
    ) as client:
        assert len(await client.list_keys()) == 500
        with pytest.raises(KeyLimitReached, match="500"):
            await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="501st"))


async def test_canary_key_stays_out_of_errors_and_logs_over_loopback(
    sandbox: SandboxProcess, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "VENICE_ADMIN_KEY_loopbackCanary5d1e"
    echo = json.dumps({"error": f"Bearer {canary} is not valid for {canary}"})
    sandbox.add_fault("GET", "/api_keys/rate_limits", status=400, body=echo)
    client, _ = connect(canary, retry=RetryPolicy.never())
    caught: list[Exception] = []
    for call in (client.list_keys, client.get_rate_limits, client.get_breach_log):
        with pytest.raises(VeniceError) as failure:
            await call()
        caught.append(failure.value)
    assert isinstance(caught[0], AuthenticationFailed) and isinstance(caught[1], InvalidRequest)
    said = " ".join(f"{e} {e!r} {vars(e)!r}" for e in caught) + caplog.text
    assert canary not in said and "Bearer " not in said


# ---- retries with injected faults ------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [{"status": 503}, {"status": 502}, {"status": 500}, {"status": 504}, {"status": 429}, {"drop": "before"},
     {"drop": "after"}],
    ids=["503", "502", "500", "504", "429", "drop-before", "drop-after"],
)  # fmt: skip
async def test_get_is_retried_through_a_transient_fault(
    sandbox: SandboxProcess, connect: Connect, fault: dict[str, Any]
) -> None:
    reset = time.time() + 0.4
    if fault.get("status") == 429:  # the sandbox says "in 3 s"; a closer reset keeps the test quick
        fault["headers"] = {"x-ratelimit-reset-requests": f"{reset:.3f}"}
    sandbox.add_fault("GET", "/api_keys", **fault)
    clock = WaitLog()
    client, counter = connect(clock=clock)
    keys = await client.list_keys()
    assert sandbox.admin_key_id in {k.id for k in keys}
    assert counter.count() == 2
    if "headers" in fault:  # the retry was put off until the announced reset, by the client's own clock
        [resume] = clock.resumes
        assert resume >= reset - 0.001


async def test_get_retries_are_bounded_when_venice_never_recovers(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    sandbox.add_fault("GET", "/api_keys/rate_limits", status=503, times=-1)
    client, counter = connect()
    with pytest.raises(VeniceUnavailable):
        await client.get_rate_limits()
    assert counter.count() == FAST.max_attempts


async def test_slow_answer_past_the_timeout_is_bounded(sandbox: SandboxProcess, connect: Connect) -> None:
    sandbox.add_fault("GET", "/api_keys", latency=30.0, times=-1)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01, total_budget=20.0)
    client, counter = connect(timeout=0.25, retry=policy)
    with pytest.raises(NetworkError, match="did not answer in time"):
        await client.list_keys()
    assert counter.count() == 3  # each attempt cut off by the timeout (a 30 s wait would hit pytest's guard)


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_write_with_503_is_not_retried_and_changes_nothing(
    sandbox: SandboxProcess, connect: Connect, method: str
) -> None:
    client, counter = connect()
    victim = await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="503 victim"))
    before = {(k.id, k.description, k.consumption_limits) for k in await client.list_keys()}
    sandbox.add_fault(method, "/api_keys", status=503, times=3)
    with pytest.raises(VeniceUnavailable):
        if method == "POST":
            await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="never made"))
        elif method == "PATCH":
            await client.update_key(UpdateKeyRequest(id=victim.id, description="never renamed"))
        else:
            await client.delete_key(victim.id)
    assert counter.count(method) == (2 if method == "POST" else 1)  # POST: the victim's create + this one
    sandbox.clear_faults()
    after = {(k.id, k.description, k.consumption_limits) for k in await client.list_keys()}
    assert after == before
    await client.delete_key(victim.id)


async def test_create_dropped_after_apply_is_outcome_unknown_and_the_key_exists(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    sandbox.add_fault("POST", "/api_keys", drop="after")
    client, counter = connect()
    with pytest.raises(OutcomeUnknown) as caught:
        await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="dropped after apply"))
    unknown = caught.value
    assert (unknown.operation, unknown.request["description"]) == ("create", "dropped after apply")
    assert counter.count("POST") == 1
    made = [k for k in await client.list_keys() if k.description == "dropped after apply"]
    assert len(made) == 1  # reconciliation finds exactly one key: it was created, and not twice
    await client.delete_key(made[0].id)


async def test_delete_dropped_before_apply_leaves_the_key(sandbox: SandboxProcess, connect: Connect) -> None:
    client, counter = connect()
    victim = await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="drop before"))
    sandbox.add_fault("DELETE", "/api_keys", drop="before")
    # Over a socket the request has left when the connection breaks, so the client cannot
    # know it was not applied: it must say "unknown", never "revoked".
    with pytest.raises(OutcomeUnknown) as caught:
        await client.delete_key(victim.id)
    assert (caught.value.operation, caught.value.key_id) == ("delete", victim.id)
    assert counter.count("DELETE") == 1
    assert (await client.get_key(victim.id)).id == victim.id
    await client.delete_key(victim.id)


async def test_delete_dropped_after_apply_is_outcome_unknown_and_the_key_is_gone(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    client, _ = connect()
    victim = await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="drop after"))
    sandbox.add_fault("DELETE", "/api_keys", drop="after")
    with pytest.raises(OutcomeUnknown):
        await client.delete_key(victim.id)
    with pytest.raises(KeyNotFound):
        await client.get_key(victim.id)


async def test_in_process_drop_before_is_a_network_error_and_nothing_changed() -> None:
    state = seeded_state()
    transport = CountingTransport(asgi_transport(create_app(state)))
    async with VeniceClient(
        state.demo.admin_key, "http://sandbox.local/api/v1", transport=transport
    ) as client:
        state.faults.add("DELETE", "/api_keys", drop="before")
        with pytest.raises(NetworkError, match="nothing changed"):
            await client.delete_key(state.demo.admin_key_id)
        assert (await client.get_key(state.demo.admin_key_id)).id == state.demo.admin_key_id
    assert transport.count("DELETE") == 1


# ---- unreadable answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "words"),
    [({"malformed": True}, "not valid JSON"), ({"content_type": "text/html"}, "text/html")],
    ids=["malformed-json", "wrong-content-type"],
)
async def test_unreadable_get_answer_is_malformed(
    sandbox: SandboxProcess, connect: Connect, fault: dict[str, Any], words: str
) -> None:
    sandbox.add_fault("GET", "/api_keys", **fault)
    client, counter = connect()
    with pytest.raises(MalformedResponse, match=words):
        await client.list_keys()
    assert counter.count() == 1


async def test_create_with_malformed_answer_is_outcome_unknown_and_the_key_exists(
    sandbox: SandboxProcess, connect: Connect
) -> None:
    sandbox.add_fault("POST", "/api_keys", malformed=True)
    client, _ = connect()
    with pytest.raises(OutcomeUnknown, match="revoke it"):
        await client.create_key(CreateKeyRequest(api_key_type="INFERENCE", description="malformed create"))
    made = [k for k in await client.list_keys() if k.description == "malformed create"]
    assert len(made) == 1
    await client.delete_key(made[0].id)
