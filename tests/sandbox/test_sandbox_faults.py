"""Fault injection, in process: latency, statuses, drops before/after, broken bodies."""

from __future__ import annotations

import json

import httpx2
import pytest

from venice_keys_mcp.sandbox import SandboxState, faults

from .conftest import RATE_HEADERS, ClientFactory

pytestmark = pytest.mark.anyio
BASIC = {"apiKeyType": "INFERENCE", "description": "faulty"}


def count(state: SandboxState) -> int:
    return len(state.active_keys(state.demo.account_id))


async def test_latency_delays_the_answer(
    state: SandboxState, admin: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    real_sleep = faults.anyio.sleep

    async def noted_sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(faults.anyio, "sleep", noted_sleep)
    state.faults.add("GET", "/api_keys", latency=0.2)
    assert (await admin.get("/api_keys")).status_code == 200
    assert (await admin.get("/api_keys")).status_code == 200
    assert waits.count(0.2) == 1, f"a fault applies `times` times (1 by default): {waits}"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_status_fault_answers_an_error_without_applying(
    state: SandboxState, admin: httpx2.AsyncClient, status: int
) -> None:
    before = count(state)
    state.faults.add("POST", "/api_keys", status=status)
    response = await admin.post("/api_keys", json=BASIC)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str)
    assert count(state) == before


async def test_injected_429_carries_a_reset_a_few_seconds_ahead(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    state.faults.add("GET", "/api_keys", status=429)
    response = await admin.get("/api_keys")
    assert response.status_code == 429
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(response.headers["x-ratelimit-reset-requests"]) - state.now().timestamp() <= 5


async def test_drop_before_raises_connect_error_and_changes_nothing(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    before = count(state)
    state.faults.add("POST", "/api_keys", drop="before")
    with pytest.raises(httpx2.ConnectError):
        await admin.post("/api_keys", json=BASIC)
    assert count(state) == before


async def test_drop_after_applies_the_change_then_cuts_the_connection(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    before = count(state)
    state.faults.add("POST", "/api_keys", drop="after")
    with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
        await admin.post("/api_keys", json={**BASIC, "description": "did it happen?"})
    assert count(state) == before + 1
    listed = (await admin.get("/api_keys")).json()["data"]
    assert listed[0]["description"] == "did it happen?"


async def test_drop_after_a_delete_revokes_the_key(state: SandboxState, admin: httpx2.AsyncClient) -> None:
    victim = (await admin.post("/api_keys", json=BASIC)).json()["data"]["id"]
    state.faults.add("DELETE", "/api_keys", drop="after")
    with pytest.raises(httpx2.TransportError):
        await admin.delete("/api_keys", params={"id": victim})
    assert victim not in state.keys


async def test_malformed_body_is_a_200_with_broken_json(state: SandboxState, raw: httpx2.AsyncClient) -> None:
    state.faults.add("GET", "/api_keys", malformed=True)
    response = await raw.get("/api_keys")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_content_type_body_and_headers_can_be_replaced(
    state: SandboxState, raw: httpx2.AsyncClient
) -> None:
    state.faults.add(
        "GET",
        "/api_keys/rate_limits",
        content_type="text/html",
        body=b"<html>gateway</html>",
        headers={"X-Edge": "1"},
    )
    response = await raw.get("/api_keys/rate_limits")
    assert response.headers["content-type"] == "text/html"
    assert response.text == "<html>gateway</html>"
    assert response.headers["x-edge"] == "1"
    assert all(name in response.headers for name in RATE_HEADERS)


async def test_status_with_a_body_sends_that_body(state: SandboxState, raw: httpx2.AsyncClient) -> None:
    state.faults.add("GET", "/api_keys", status=502, body=b"Bad Gateway", content_type="text/plain")
    response = await raw.get("/api_keys")
    assert (response.status_code, response.text) == (502, "Bad Gateway")


async def test_times_counts_matching_requests_and_minus_one_is_forever(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    state.faults.add("GET", "/api_keys", status=503, times=2)
    assert [(await admin.get("/api_keys")).status_code for _ in range(3)] == [503, 503, 200]
    state.faults.add("GET", "/api_keys", status=500, times=-1)
    assert [(await admin.get("/api_keys")).status_code for _ in range(3)] == [500, 500, 500]
    state.faults.clear()
    assert (await admin.get("/api_keys")).status_code == 200


async def test_path_patterns_match_one_segment(state: SandboxState, admin: httpx2.AsyncClient) -> None:
    state.faults.add("GET", "/api_keys/*", status=500, times=-1)
    assert (await admin.get("/api_keys")).status_code == 200
    assert (await admin.get("/api_keys/any-id")).status_code == 500
    assert (await admin.get("/api_keys/rate_limits")).status_code == 500
    assert (await admin.get("/api_keys/rate_limits/log")).status_code == 200
    state.faults.clear()
    state.faults.add("*", "/api/v1/api_keys/{id}", status=503)
    assert (await admin.get(f"/api_keys/{state.demo.admin_key_id}")).status_code == 503


async def test_faults_only_match_their_method(state: SandboxState, admin: httpx2.AsyncClient) -> None:
    state.faults.add("POST", "/api_keys", status=500)
    assert (await admin.get("/api_keys")).status_code == 200
    assert (await admin.post("/api_keys", json=BASIC)).status_code == 500


async def test_injected_failures_do_not_trigger_the_abuse_block(
    state: SandboxState, admin: httpx2.AsyncClient
) -> None:
    state.faults.add("GET", "/api_keys", status=500, times=30)
    for _ in range(30):
        assert (await admin.get("/api_keys")).status_code == 500
    assert (await admin.get("/api_keys")).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drop": "sideways"},
        {"status": 42},
        {"status": "503"},
        {"times": 0},
        {"times": -2},
        {"times": 1.5},
        {"latency": -1.0},
    ],
)
def test_fault_arguments_are_checked(state: SandboxState, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        state.faults.add("GET", "/api_keys", **kwargs)  # type: ignore[arg-type]


async def test_faults_over_http_controls(state: SandboxState, make_client: ClientFactory) -> None:
    control = make_client(checked=False, base_url="http://sandbox")
    admin = make_client(state.demo.admin_key)
    added = await control.post("/_sandbox/faults", json={"method": "GET", "path": "/api_keys", "status": 503})
    assert added.status_code == 200 and len(added.json()["pending"]) == 1
    assert (await control.get("/_sandbox/faults")).json()["pending"][0]["status"] == 503
    assert (await admin.get("/api_keys")).status_code == 503
    await control.post(
        "/_sandbox/faults", json={"method": "GET", "path": "/api_keys", "body": "oops", "times": -1}
    )
    assert (await control.delete("/_sandbox/faults")).json() == {"success": True}
    assert (await admin.get("/api_keys")).status_code == 200
    await control.post("/_sandbox/faults", json={"wallet_verification_down": True})
    assert state.faults.wallet_verification_down is True
    bad = await control.post("/_sandbox/faults", json={"method": "GET", "path": "/x", "drop": "sideways"})
    assert bad.status_code == 400 and "error" in bad.json()
    assert (await control.post("/_sandbox/faults", json={"mystery": 1})).status_code == 400


async def test_clock_health_limits_and_windows_controls(
    state: SandboxState, make_client: ClientFactory
) -> None:
    control = make_client(checked=False, base_url="http://sandbox")
    before = state.now()
    moved = await control.post("/_sandbox/clock", json={"advance": 3600})
    assert moved.status_code == 200 and (state.now() - before).total_seconds() >= 3600
    assert (await control.post("/_sandbox/clock", json={"advance": -5})).status_code == 400
    health = (await control.get("/_sandbox/health")).json()
    assert health["ok"] is True and health["activeKeys"] == count(state)
    limits = (await control.post("/_sandbox/limits", json={"abuse_threshold": 100})).json()
    assert limits["abuse_threshold"] == 100 == state.abuse_threshold
    assert (await control.post("/_sandbox/limits", json={"nonsense": 1})).status_code == 400
    state.windows.blocked_until["x"] = state.now()
    assert (await control.delete("/_sandbox/windows")).status_code == 200
    assert state.windows.blocked_until == {}


async def test_latency_beyond_the_client_read_timeout_is_a_read_timeout(
    state: SandboxState, make_client: ClientFactory
) -> None:
    before = count(state)
    client = make_client(state.demo.admin_key, timeout=httpx2.Timeout(5.0, read=0.1))
    state.faults.add("POST", "/api_keys", latency=60.0)  # waited out, it would hit the pytest timeout
    with pytest.raises(httpx2.ReadTimeout):
        await client.post("/api_keys", json=BASIC)
    assert count(state) == before, "in process, a timed-out request is not applied"
