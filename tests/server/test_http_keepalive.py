"""Requests on one kept-alive HTTP connection are answered at once, not after a delayed ACK.

The listening socket must name its protocol (IPPROTO_TCP) for asyncio to set TCP_NODELAY
on the connections it accepts. Without it, every request after the first on a kept-alive
connection waited about 40 ms for the client's delayed ACK (Nagle's algorithm holding
back the answer's last small write). The cause is checked on the socket itself, not by
timing requests on a shared machine (the figures live in docs/benchmarks.md).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from support.server_process import ServerProcess, running_http_server, server_env

from venice_keys_mcp.serve import _listen

ACCEPT = "application/json, text/event-stream"
REQUESTS = 10


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home: Path = tmp_path_factory.mktemp("keepalive")
    with running_http_server("--sandbox", env=server_env(home), port=0) as server:
        yield server


def rpc(client: httpx2.Client, url: str, body: dict, session: str | None = None) -> httpx2.Response:
    headers = {"accept": ACCEPT, "content-type": "application/json"}
    if session is not None:
        headers["mcp-session-id"] = session
    response = client.post(url, json=body, headers=headers)
    response.raise_for_status()
    return response


def test_ten_tools_list_on_one_kept_alive_connection_are_each_answered_in_full(
    http_server: ServerProcess,
) -> None:
    url = http_server.url
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    # One connection only, so every request below rides the same kept-alive socket.
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx2.Client(limits=limits, headers=http_server.auth, timeout=10.0) as client:
        session = rpc(client, url, init).headers["mcp-session-id"]
        rpc(client, url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        for i in range(1, REQUESTS + 1):
            answer = rpc(client, url, {"jsonrpc": "2.0", "id": i, "method": "tools/list"}, session)
            assert '"list_keys"' in answer.text  # a whole answer each time, not just headers


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_the_listening_socket_names_tcp_so_asyncio_sets_nodelay(host: str) -> None:
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        sock = _listen(host, 0)
    except OSError as exc:  # IPv6 compiled in but disabled on the host
        pytest.skip(f"cannot bind {host}: {exc}")
    with sock:
        assert sock.proto == socket.IPPROTO_TCP and sock.type == socket.SOCK_STREAM
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        if sock.family == socket.AF_INET6:
            assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
