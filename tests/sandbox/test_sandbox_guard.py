"""Across the API: rate-limit headers everywhere, the request budget, the abuse block, JSON errors."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState

from .conftest import RATE_HEADERS, ClientFactory

pytestmark = pytest.mark.anyio
ABUSE = (
    "Too many failed attempts (> 20) resulting in a non-success status code. Please wait 30s and try again."
)


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("GET", "/api_keys", "admin", 200),
        ("GET", "/api_keys", None, 402),
        ("GET", "/api_keys", "inference", 401),
        ("GET", "/api_keys/nope", "admin", 400),
        ("GET", "/api_keys/generate_web3_key", None, 200),
        ("GET", "/nothing/here", "admin", 404),
        ("PUT", "/api_keys", "admin", 405),
        ("POST", "/api_keys", "admin", 400),
    ],
)
async def test_rate_limit_headers_on_every_response(
    make_client: ClientFactory, state: SandboxState, method: str, path: str, key: str | None, status: int
) -> None:
    secret = {"admin": state.demo.admin_key, "inference": state.demo.inference_key}.get(key or "")
    response = await make_client(secret).request(method, path)
    assert response.status_code == status
    assert all(response.headers[name].isdigit() for name in RATE_HEADERS)
    assert int(response.headers["x-ratelimit-reset-requests"]) > state.now().timestamp()


async def test_unknown_route_is_404_json_and_wrong_method_is_405_json(admin: httpx2.AsyncClient) -> None:
    missing = await admin.get("/api_keys/rate_limits/nope")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = await admin.put("/api_keys")
    assert wrong.status_code == 405 and "error" in wrong.json()
    assert {"GET", "POST", "PATCH", "DELETE"} <= {m.strip() for m in wrong.headers["allow"].split(",")}


async def test_chunked_huge_body_is_413_json(admin: httpx2.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b"x" * 65536

    response = await admin.post("/api_keys", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_request_budget_exceeded_is_429_with_reset(
    admin: httpx2.AsyncClient, state: SandboxState
) -> None:
    state.request_budget = 3
    statuses = [(await admin.get("/api_keys")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = await admin.get("/api_keys")
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    state.advance(60)
    assert (await admin.get("/api_keys")).status_code == 200


async def test_remaining_requests_counts_down(admin: httpx2.AsyncClient) -> None:
    first = int((await admin.get("/api_keys")).headers["x-ratelimit-remaining-requests"])
    second = int((await admin.get("/api_keys")).headers["x-ratelimit-remaining-requests"])
    assert second == first - 1


async def test_abuse_block_after_more_than_20_failures_in_30s(
    make_client: ClientFactory, state: SandboxState
) -> None:
    bad = make_client("VENICE_ADMIN_KEY_" + secrets.token_urlsafe(32))
    for _ in range(21):
        assert (await bad.get("/api_keys")).status_code == 401
    blocked = await bad.get("/api_keys")
    assert (blocked.status_code, blocked.json()["error"]) == (429, ABUSE)
    reset = int(blocked.headers["x-ratelimit-reset-requests"])
    assert 29 <= reset - state.now().timestamp() <= 31
    admin = make_client(state.demo.admin_key)
    assert (await admin.get("/api_keys")).status_code == 200, "another caller is not blocked"
    state.advance(31)
    assert (await bad.get("/api_keys")).status_code == 401


async def test_twenty_failures_do_not_block(make_client: ClientFactory, state: SandboxState) -> None:
    admin = make_client(state.demo.admin_key)
    for _ in range(20):
        assert (await admin.get("/api_keys/nope")).status_code == 400
    assert (await admin.get("/api_keys")).status_code == 200


async def test_failures_older_than_30s_do_not_count(make_client: ClientFactory, state: SandboxState) -> None:
    admin = make_client(state.demo.admin_key)
    for _ in range(15):
        await admin.get("/api_keys/nope")
    state.advance(31)
    for _ in range(15):
        await admin.get("/api_keys/nope")
    assert (await admin.get("/api_keys")).status_code == 200


async def test_abuse_block_applies_to_a_valid_key_too(
    make_client: ClientFactory, state: SandboxState
) -> None:
    inference = make_client(state.demo.inference_key)
    for _ in range(21):
        await inference.get("/api_keys")
    response = await inference.get("/api_keys/rate_limits")
    assert (response.status_code, response.json()["error"]) == (429, ABUSE)


async def test_callers_without_a_key_are_told_apart_by_host(make_client: ClientFactory) -> None:
    anon = make_client()
    for _ in range(21):
        assert (await anon.get("/api_keys")).status_code == 402
    assert (await anon.get("/api_keys")).status_code == 429


async def test_more_than_50_client_errors_enter_the_breach_log(
    make_client: ClientFactory, state: SandboxState
) -> None:
    state.abuse_threshold = 1000
    inference = make_client(state.demo.inference_key)
    log = state.accounts[state.demo.account_id].breaches
    before = len(log)
    for _ in range(51):
        await inference.get("/api_keys")
    assert len(log) == before + 1
    entry = log[-1]
    assert (entry.api_key_id, entry.rate_limit_type) == (state.demo.inference_key_id, "FAILED_REQUESTS")
    assert entry.model_id == "endpoint:api/v1/api_keys"
    listed = (await make_client(state.demo.admin_key).get("/api_keys/rate_limits/log")).json()["data"]
    assert listed[0]["rateLimitType"] == "FAILED_REQUESTS"
