"""Reads are retried within a budget; writes are sent exactly once (MockTransport)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx2
import pytest
from fake_venice import KEY_ID, FakeClock, FakeVenice, error, slow

from venice_keys_mcp.venice import (
    AbuseBlocked,
    CreateKeyRequest,
    NetworkError,
    OutcomeUnknown,
    RateLimited,
    RetryPolicy,
    UpdateKeyRequest,
    VeniceUnavailable,
    Web3MintRequest,
)

pytestmark = pytest.mark.anyio

CREATE = CreateKeyRequest(api_key_type="INFERENCE", description="retry probe")


@pytest.fixture
def venice() -> FakeVenice:
    return FakeVenice()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_get_retries_server_errors_then_succeeds(venice: FakeVenice, status: int) -> None:
    venice.reply(error(status, "upstream hiccup"), error(status, "upstream hiccup"))
    async with venice.client() as client:
        keys = await client.list_keys()
    assert [k.id for k in keys] == [KEY_ID]
    assert venice.count() == 3


@pytest.mark.parametrize(
    "failure",
    [
        httpx2.ConnectError("refused"),
        httpx2.ReadError("reset by peer"),
        httpx2.RemoteProtocolError("server disconnected"),
        httpx2.ReadTimeout("slow"),
        httpx2.ConnectTimeout("slow connect"),
    ],
)
async def test_get_retries_network_errors_then_succeeds(venice: FakeVenice, failure: Exception) -> None:
    venice.reply(failure)
    async with venice.client() as client:
        assert await client.get_rate_limits()
    assert venice.count() == 2


async def test_get_retry_gives_up_after_max_attempts(venice: FakeVenice) -> None:
    venice.reply(*[error(503, "down")] * 10)
    async with venice.client() as client:
        with pytest.raises(VeniceUnavailable) as caught:
            await client.get_key(KEY_ID)
    assert venice.count() == 4
    assert caught.value.status == 503
    assert "try again" in str(caught.value)


async def test_get_retry_stops_when_the_time_budget_is_spent(venice: FakeVenice) -> None:
    # Each wait is jittered in [0.025, 0.05]: three to five attempts fit in 0.12 s, so the
    # number alone says little. What must hold for any jitter: every wait fitted inside the
    # budget, and the client stopped only when what was left was less than a wait can be.
    venice.reply(*[error(502, "bad gateway")] * 20)
    policy = RetryPolicy(max_attempts=20, base_delay=0.05, max_delay=0.05, total_budget=0.12)
    clock = FakeClock()
    async with venice.client(retry=policy, clock=clock) as client:
        with pytest.raises(VeniceUnavailable):
            await client.list_keys()
    assert venice.count() == len(clock.sleeps) + 1 < 20
    assert all(0.025 <= wait <= 0.05 for wait in clock.sleeps)
    spent = sum(clock.sleeps)
    assert spent < policy.total_budget
    assert policy.total_budget - spent <= 0.05  # stopped because no further wait could fit


async def test_get_retry_budget_counts_the_time_attempts_take(venice: FakeVenice) -> None:
    clock = FakeClock()

    def slow_failure(request: httpx2.Request) -> httpx2.Response:
        clock.advance(1.5)  # each attempt "takes" 1.5 s of the 4 s budget
        return error(503, "down")

    venice.reply(*[slow_failure] * 10)
    policy = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=0.1, total_budget=4.0)
    async with venice.client(retry=policy, clock=clock) as client:
        with pytest.raises(VeniceUnavailable):
            await client.list_keys()
    # Two attempts and a wait leave about 0.8 s: the next wait fits, so a third attempt runs;
    # after it (past 4.5 s) nothing is left. Three attempts of the ten allowed.
    assert venice.count() == 3 and len(clock.sleeps) == 2


async def test_get_network_failure_that_never_recovers_is_a_network_error(venice: FakeVenice) -> None:
    venice.reply(*[httpx2.ConnectError("refused")] * 10)
    async with venice.client() as client:
        with pytest.raises(NetworkError, match="could not be opened"):
            await client.list_keys()
    assert venice.count() == 4


async def test_get_honours_a_rate_limit_reset_inside_the_budget(venice: FakeVenice) -> None:
    clock = FakeClock()
    reset = f"{clock.now().timestamp() + 2.5:.3f}"
    venice.reply(error(429, "Rate limit exceeded", headers={"x-ratelimit-reset-requests": reset}))
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001, total_budget=8.0)
    async with venice.client(retry=policy, clock=clock) as client:
        await client.list_keys()
    assert venice.count() == 2
    assert clock.sleeps == [pytest.approx(2.5, abs=1e-3)]  # waited for the window, not the whole budget


async def test_get_gives_up_at_once_when_the_reset_is_beyond_the_budget(venice: FakeVenice) -> None:
    reset = int(time.time()) + 600
    venice.reply(error(429, "Rate limit exceeded", headers={"x-ratelimit-reset-requests": str(reset)}))
    async with venice.client() as client:
        with pytest.raises(RateLimited) as caught:
            await client.list_keys()
    assert venice.count() == 1
    assert caught.value.reset_at == datetime.fromtimestamp(reset, UTC)
    assert "Try again after" in str(caught.value)


async def test_get_retries_429_without_reset_header_with_backoff(venice: FakeVenice) -> None:
    venice.reply(error(429, "Rate limit exceeded"))
    async with venice.client() as client:
        await client.get_breach_log()
    assert venice.count() == 2


async def test_abuse_block_is_never_retried(venice: FakeVenice) -> None:
    message = (
        "Too many failed attempts (> 20) resulting in a non-success status code. "
        "Please wait 30s and try again."
    )
    venice.reply(error(429, message))
    async with venice.client() as client:
        with pytest.raises(AbuseBlocked) as caught:
            await client.list_keys()
    assert venice.count() == 1
    assert "30 s" in str(caught.value)


async def test_client_errors_on_reads_are_not_retried(venice: FakeVenice) -> None:
    venice.reply(error(400, "API key not found"))
    async with venice.client() as client:
        with pytest.raises(Exception):  # noqa: B017 - the type is covered in the mapping tests
            await client.get_key(KEY_ID)
    assert venice.count() == 1


async def test_stalled_get_is_bounded_by_the_timeout_and_budget(venice: FakeVenice) -> None:
    venice.reply(*[slow(30)] * 10)
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.001, total_budget=5.0)
    async with venice.client(timeout=0.1, retry=policy) as client:
        with pytest.raises(NetworkError, match="did not answer in time"):
            await client.list_keys()
    assert venice.count() == 3  # each stalled attempt was cut off by the timeout, then retried


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@pytest.mark.parametrize("operation", ["create", "update", "delete", "mint"])
async def test_writes_are_never_retried_on_error_statuses(
    venice: FakeVenice, operation: str, status: int
) -> None:
    venice.reply(*[error(status, "nope")] * 3)
    async with venice.client() as client:
        with pytest.raises((RateLimited, VeniceUnavailable, OutcomeUnknown)):
            await _write(client, operation)
    assert venice.count() == 1


@pytest.mark.parametrize("operation", ["create", "update", "delete", "mint"])
async def test_write_503_is_unavailable_and_nothing_changed(venice: FakeVenice, operation: str) -> None:
    venice.reply(error(503, "Service Unavailable"))
    async with venice.client() as client:
        with pytest.raises(VeniceUnavailable):
            await _write(client, operation)


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_write_500_502_504_leave_the_outcome_unknown(venice: FakeVenice, status: int) -> None:
    venice.reply(error(status, "gateway trouble"))
    async with venice.client() as client:
        with pytest.raises(OutcomeUnknown) as caught:
            await client.delete_key(KEY_ID)
    assert caught.value.operation == "delete" and caught.value.key_id == KEY_ID
    assert isinstance(caught.value.__cause__, VeniceUnavailable)


@pytest.mark.parametrize(
    "failure",
    [
        httpx2.ReadError("reset"),
        httpx2.RemoteProtocolError("server disconnected"),
        httpx2.ReadTimeout("no answer"),
        httpx2.WriteError("broken pipe"),
        httpx2.WriteTimeout("stuck"),
    ],
)
@pytest.mark.parametrize("operation", ["create", "update", "delete", "mint"])
async def test_write_dropped_after_sending_is_outcome_unknown(
    venice: FakeVenice, operation: str, failure: Exception
) -> None:
    venice.reply(failure, failure)
    before = datetime.now(UTC)
    async with venice.client() as client:
        with pytest.raises(OutcomeUnknown) as caught:
            await _write(client, operation)
    assert venice.count() == 1
    unknown = caught.value
    assert unknown.operation == operation
    assert unknown.sent_at is not None and unknown.sent_at >= before
    assert "Do not resend" in str(unknown)
    if operation in ("update", "delete"):
        assert unknown.key_id == KEY_ID
    if operation == "create":
        assert unknown.request == {"apiKeyType": "INFERENCE", "description": "retry probe"}
    if operation == "mint":
        assert "signature" not in unknown.request and "token" not in unknown.request
        assert unknown.request["address"] == "0xabc"


@pytest.mark.parametrize(
    "failure", [httpx2.ConnectError("refused"), httpx2.ConnectTimeout("slow"), httpx2.PoolTimeout("busy")]
)
@pytest.mark.parametrize("operation", ["create", "update", "delete", "mint"])
async def test_write_that_never_left_is_a_network_error_saying_nothing_changed(
    venice: FakeVenice, operation: str, failure: Exception
) -> None:
    venice.reply(failure, failure)
    async with venice.client() as client:
        with pytest.raises(NetworkError, match="nothing changed"):
            await _write(client, operation)
    assert venice.count() == 1


async def test_stalled_write_is_bounded_and_outcome_unknown(venice: FakeVenice) -> None:
    venice.reply(slow(30))
    async with venice.client(timeout=0.1) as client:
        with pytest.raises(OutcomeUnknown):
            await client.create_key(CREATE)
    assert venice.count() == 1  # cut off by the timeout (pytest-timeout guards a hang), not resent


def test_backoff_is_jittered_exponential_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=2.0)
    for attempt, step in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (9, 2.0)]:
        waits = [policy.backoff(attempt) for _ in range(50)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(total_budget=-1)
    assert RetryPolicy.never().max_attempts == 1


async def _write(client, operation: str) -> object:  # type: ignore[no-untyped-def]
    if operation == "create":
        return await client.create_key(CREATE)
    if operation == "update":
        return await client.update_key(UpdateKeyRequest(id=KEY_ID, description="renamed"))
    if operation == "delete":
        return await client.delete_key(KEY_ID)
    return await client.mint_web3_key(
        Web3MintRequest(
            address="0xabc", signature="0xsig", token="header.payload.sig", api_key_type="INFERENCE"
        )
    )
