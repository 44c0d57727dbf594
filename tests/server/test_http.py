"""The real server over Streamable HTTP: every tool on both eras, the bearer token, Host/Origin checks.

The token a server makes for itself (its file, reuse, --no-auth, the banner) and the
session bounds are in test_http_auth.py.

Servers are real processes on loopback ports, shared per module (a spawn costs about a
second). Raw requests are one `initialize` POST, as a browser page or a curl would send it.
"""

from __future__ import annotations

import secrets
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult
from support.server_process import (
    STOP_TIMEOUT,
    ServerProcess,
    run_cli,
    running_http_server,
    server_env,
)

from tests.server.test_stdio import exercise_every_tool, type_answers
from tests.support import tool_catalog

EVIL_HOST = "evil.example"
EVIL_ORIGIN = "http://evil.example"


def initialize(server: ServerProcess, headers: dict[str, str] | None = None) -> httpx2.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    sent = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        **(headers or {}),
    }
    return httpx2.post(server.url, json=body, headers=sent, timeout=10.0)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A loopback server started as a person would, without VENICE_KEYS_HTTP_TOKEN, on `--port 0`.

    It makes its own token (`server.token`, read from its file); files under its own tmp dir.
    """
    home = tmp_path_factory.mktemp("default")
    with running_http_server("--sandbox", env=server_env(home), port=0) as server:
        assert server.token
        yield server, home


@pytest.fixture(scope="module")
def token() -> str:
    return secrets.token_urlsafe(24)  # made at run time: never a literal in the repo


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory, token: str) -> Iterator[ServerProcess]:
    """A loopback server that requires the token, logging at DEBUG so a leak would show."""
    env = server_env(tmp_path_factory.mktemp("token"), VENICE_KEYS_HTTP_TOKEN=token)
    with running_http_server("--sandbox", "--log-level", "DEBUG", env=env) as server:
        yield server


# --- every tool, both eras -------------------------------------------------------------------


@pytest.mark.eras
@pytest.mark.anyio
async def test_http_server_runs_every_tool_with_elicitation(default_server, mode):
    server, home = default_server
    answers: dict[str, Any] = {}

    async def type_last6(ctx: Any, params: Any) -> ElicitResult:
        return type_answers(params, answers)

    async with (
        httpx2.AsyncClient(headers=server.auth, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(
            streamable_http_client(server.url, http_client=http), mode=mode, elicitation_callback=type_last6
        ) as c,
    ):
        await exercise_every_tool(c, answers, home)
        assert c.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")


def test_default_server_refuses_a_request_without_its_token_and_serves_one_with_it(default_server):
    server, _ = default_server
    refused = initialize(server)
    assert refused.status_code == 401 and "venice-keys-mcp" not in refused.text
    assert refused.headers["www-authenticate"].startswith("Bearer")
    served = initialize(server, server.auth)
    assert served.status_code == 200 and "venice-keys-mcp" in served.text


def test_default_server_refuses_a_wrong_token_of_the_same_length_and_a_prefix(default_server):
    server, _ = default_server
    token = server.token
    assert token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for wrong in (flipped, token[:-1], token[: len(token) // 2], token + "x"):
        assert initialize(server, bearer(wrong)).status_code == 401, len(wrong)


def test_port_0_serves_on_the_port_the_banner_announces(default_server):
    server, _ = default_server
    assert server.port != 0  # read from the banner; every test on this server connects to it
    assert (
        f"claude mcp add --transport http venice-keys http://127.0.0.1:{server.port}/mcp" in server.stderr()
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"host": f"{EVIL_HOST}:1234"}, 421), ({"host": EVIL_HOST}, 421), ({"origin": EVIL_ORIGIN}, 403)],
)
def test_loopback_server_refuses_foreign_host_and_origin(default_server, headers, status):
    server, _ = default_server
    r = initialize(server, headers)
    assert r.status_code == status and "venice-keys-mcp" not in r.text


def test_loopback_server_accepts_its_own_origins(default_server):
    server, _ = default_server
    for origin in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}"):
        assert initialize(server, {**server.auth, "origin": origin}).status_code == 200


# --- the bearer token --------------------------------------------------------------------------


def test_request_without_token_gets_401_with_bearer_challenge(token_server):
    r = initialize(token_server)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "venice-keys-mcp" not in r.text


def test_request_with_wrong_token_gets_401(token_server, token):
    for wrong in (token[:-1], token + "x", "x" * len(token), token[:-1] + ("A" if token[-1] != "A" else "B")):
        assert initialize(token_server, bearer(wrong)).status_code == 401


def test_request_with_the_token_is_served(token_server, token):
    r = initialize(token_server, bearer(token))
    assert r.status_code == 200 and "venice-keys-mcp" in r.text


@pytest.mark.parametrize("send_token", [False, True], ids=["no-token", "right-token"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [({"host": f"{EVIL_HOST}:80"}, 421), ({"origin": EVIL_ORIGIN}, 403)],
    ids=["host", "origin"],
)
def test_foreign_host_or_origin_is_refused_before_the_token_is_looked_at(
    token_server, token, send_token, headers, status
):
    r = initialize(token_server, {**(bearer(token) if send_token else {}), **headers})
    assert r.status_code == status


@pytest.mark.anyio
async def test_sdk_client_with_the_token_lists_tools(token_server, token):
    async with (
        httpx2.AsyncClient(headers=bearer(token), timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(token_server.url, http_client=http), mode="legacy") as c,
    ):
        assert {t.name for t in (await c.list_tools()).tools} == tool_catalog.model_facing()


def test_token_never_appears_in_banner_or_logs(token_server, token):
    initialize(token_server, bearer(token))
    initialize(token_server, bearer(token[:-1]))
    initialize(token_server, {**bearer(token), "host": EVIL_HOST})
    stderr = token_server.stderr()
    assert "DEBUG" in stderr, "the server should be logging at DEBUG for this check to mean anything"
    assert token not in stderr and token not in token_server.stdout()
    assert "Authorization: Bearer <the value of VENICE_KEYS_HTTP_TOKEN>" in stderr


# --- binding off loopback -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_binding_off_loopback_without_token_refuses_to_start(tmp_path, host):
    done = run_cli(
        "--sandbox", "--transport", "http", "--host", host, "--port", "8765", env=server_env(tmp_path)
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "VENICE_KEYS_HTTP_TOKEN" in lines[0] and host in lines[0], done.stderr
    assert done.stdout == ""


def test_wildcard_bind_with_token_serves_loopback_and_listed_hosts_then_stops_on_ctrl_c(tmp_path, token):
    env = server_env(tmp_path, VENICE_KEYS_HTTP_TOKEN=token, VENICE_KEYS_ALLOWED_HOSTS="mcp.example.test")
    with running_http_server("--sandbox", "--host", "0.0.0.0", env=env) as server:
        port = server.port
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            f"mcp.example.test:{port}",
            "mcp.example.test",
        ):
            assert initialize(server, {**bearer(token), "host": host}).status_code == 200, host
        assert initialize(server, {**bearer(token), "host": f"{EVIL_HOST}:{port}"}).status_code == 421
        assert initialize(server, {"host": f"127.0.0.1:{port}"}).status_code == 401
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(STOP_TIMEOUT)
        stderr = server.stderr()
    assert f"Streamable HTTP endpoint: http://127.0.0.1:{port}/mcp (listening on 0.0.0.0:{port})" in stderr
    assert "mcp.example.test:" in stderr and token not in stderr
    assert code == 130 and "Traceback" not in stderr


def test_busy_port_is_one_clear_line_and_exit_2(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = run_cli("--sandbox", "--transport", "http", "--port", str(port), env=server_env(tmp_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0], done.stderr
