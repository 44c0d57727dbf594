"""The event-loop stdio transport: same answers as the SDK's, stray output kept off the wire, fds restored.

Each test runs a real process and speaks newline-delimited JSON-RPC to it by hand, over
pipes (the loop's own transport) or from a regular file (the SDK's, as a fallback).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from tests.support import tool_catalog
from tests.support.server_process import REPO_ROOT, server_command, server_env

TIMEOUT = 60


def message(id_: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}}


HANDSHAKE = [
    message(
        1,
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    ),
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]


def lines_of(*messages: dict[str, Any] | str) -> bytes:
    return b"".join((m if isinstance(m, str) else json.dumps(m)).encode() + b"\n" for m in messages)


def answers(stdout: bytes) -> dict[int, dict[str, Any]]:
    out = {}
    for line in stdout.decode().splitlines():
        parsed = json.loads(line)  # every stdout line is a protocol message
        if "id" in parsed:
            out[parsed["id"]] = parsed
    return out


def converse(argv: list[str], script: bytes, want: set[int], tmp_path: Path) -> tuple[bytes, bytes, int]:
    """Write `script` to a pipe, wait until the answers `want` are on stdout (a pipe), then close stdin.

    Waiting matters: at EOF the server stops, and (as with the SDK's transport) a request
    still in flight then goes unanswered.
    """
    received: list[bytes] = []
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=server_env(tmp_path),
            cwd=REPO_ROOT,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        reader = threading.Thread(target=lambda: received.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        try:
            process.stdin.write(script)
            process.stdin.flush()
            deadline = time.monotonic() + TIMEOUT
            while not want <= set(answers(b"".join(list(received)))) and time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                time.sleep(0.05)
            process.stdin.close()
            returncode = process.wait(TIMEOUT)
            reader.join(TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
    return b"".join(received), stderr_path.read_bytes(), returncode


def test_pipes_and_a_regular_file_get_the_same_answers(tmp_path: Path) -> None:
    """Over pipes the loop's transport serves; from a file the SDK's does. Hosts see no difference."""
    # Both transports end at EOF, like the SDK's: a tool call still running then is not
    # answered, so this script asks only what is answered at once (tool calls over pipes
    # are the rest of the suite: every stdio test runs on this transport).
    (tmp_path / "b").mkdir()
    (tmp_path / "in.jsonl").write_bytes(lines_of(*HANDSHAKE))
    with (tmp_path / "in.jsonl").open("rb") as stdin:
        from_file = subprocess.run(
            server_command("--sandbox"), stdin=stdin, capture_output=True, env=server_env(tmp_path / "b"),
            cwd=REPO_ROOT, timeout=TIMEOUT,
        )  # fmt: skip
    (tmp_path / "a").mkdir()
    script = lines_of(*HANDSHAKE, message(2, "tools/list"), message(3, "tools/call", {"name": "list_keys"}))
    stdout, stderr, returncode = converse(server_command("--sandbox"), script, {1, 2, 3}, tmp_path / "a")

    assert from_file.returncode == 0 == returncode, stderr.decode() + from_file.stderr.decode()
    assert b"Traceback" not in stderr + from_file.stderr
    piped, filed = answers(stdout), answers(from_file.stdout)
    assert set(piped) == {1, 2, 3} and set(filed) == {1}  # initialize is answered before EOF is read
    assert piped[1] == filed[1]
    assert {t["name"] for t in piped[2]["result"]["tools"]} == tool_catalog.model_facing()
    listed = piped[3]["result"]["structuredContent"]
    assert len(listed["keys"]) == listed["total"] > 0


def test_a_broken_or_oversized_line_is_skipped_and_the_next_message_answered(tmp_path: Path) -> None:
    huge = "x" * (65 * 1024 * 1024)  # past the 64 MiB line limit
    script = lines_of(*HANDSHAKE, "{not json", huge, message(2, "tools/list"))
    stdout, stderr, returncode = converse(server_command("--sandbox"), script, {2}, tmp_path)
    assert returncode == 0, stderr.decode()[-2000:]
    assert {t["name"] for t in answers(stdout)[2]["result"]["tools"]} == tool_catalog.model_facing()


def test_stray_output_stays_off_the_wire_and_the_fds_come_back_blocking(tmp_path: Path) -> None:
    """A tool that prints, and code after the server: stdout carries only protocol, then the restored fds."""
    script = textwrap.dedent(
        """
        import os, sys, anyio
        from mcp.server.mcpserver import MCPServer
        from venice_keys_mcp.stdio import loop_can_serve, serve_stdio

        server = MCPServer("stray")

        @server.tool()
        def noisy() -> str:
            print("stray print", flush=True)
            os.write(1, b"stray write\\n")
            return "ok"

        assert loop_can_serve(0) and loop_can_serve(1)
        anyio.run(serve_stdio, server)
        print(f"after: blocking={os.get_blocking(0)},{os.get_blocking(1)}", flush=True)
        """
    )
    stdin = lines_of(*HANDSHAKE, message(2, "tools/call", {"name": "noisy", "arguments": {}}))
    stdout, stderr, returncode = converse([sys.executable, "-c", script], stdin, {2}, tmp_path)
    assert returncode == 0, stderr.decode()
    *protocol, last = stdout.decode().splitlines()
    assert last == "after: blocking=True,True"
    got = answers("\n".join(protocol).encode())
    assert got[2]["result"]["content"][0]["text"] == "ok", got
    assert b"stray print" in stderr and b"stray write" in stderr


def test_a_host_that_closes_stdout_ends_the_server_quietly(tmp_path: Path) -> None:
    """No reader left: the server stops with exit 0 and one log line, not a traceback or a hang."""
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            server_command("--sandbox"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
            env=server_env(tmp_path), cwd=REPO_ROOT,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(lines_of(HANDSHAKE[0]))
            process.stdin.flush()
            assert json.loads(process.stdout.readline())["id"] == 1
            process.stdout.close()  # the host stops listening, but keeps stdin open
            process.stdin.write(lines_of(HANDSHAKE[1], message(2, "tools/list"), message(3, "tools/list")))
            process.stdin.flush()
            returncode = process.wait(TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
    stderr = stderr_path.read_text()
    assert returncode == 0, stderr
    assert "the host closed stdout; stopping" in stderr and "Traceback" not in stderr


BURST = textwrap.dedent(
    """
    import sys, anyio
    import mcp_types as types
    from mcp.shared.message import SessionMessage
    from venice_keys_mcp.stdio import _streams

    async def main():
        async with _streams() as (read_stream, write_stream):
            async with read_stream, write_stream:
                for i in range(3):  # three large answers, then the server is done
                    answer = types.JSONRPCResponse(jsonrpc="2.0", id=i, result={"x": "y" * 30_000})
                    await write_stream.send(SessionMessage(answer))

    anyio.run(main)
    """
)


def test_every_byte_of_the_last_answers_reaches_a_slow_reader() -> None:
    """The server finishing must not drop answers still on their way out to a host that reads slowly."""
    process = subprocess.Popen(
        [sys.executable, "-c", BURST], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO_ROOT
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.close()
    received = b""
    while chunk := process.stdout.read1(8192):
        received += chunk
        time.sleep(0.002)  # a host busy with other things between reads
    assert process.wait(TIMEOUT) == 0
    lines = received.decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2]  # whole lines, in order, none cut off


def test_one_socket_for_stdin_and_stdout_is_served_too(tmp_path: Path) -> None:
    """inetd-style (one socket as fds 0 and 1): the SDK's transport serves it, and answers arrive."""
    import socket

    host, child = socket.socketpair()
    with (tmp_path / "stderr").open("wb") as err:
        process = subprocess.Popen(
            server_command("--sandbox"), stdin=child, stdout=child, stderr=err, env=server_env(tmp_path),
            cwd=REPO_ROOT,
        )  # fmt: skip
    child.close()
    try:
        host.sendall(lines_of(*HANDSHAKE, message(2, "tools/list")))
        host.settimeout(TIMEOUT)
        received = b""
        while received.count(b"\n") < 2:
            chunk = host.recv(1 << 20)
            assert chunk, (tmp_path / "stderr").read_text()
            received += chunk
        host.shutdown(socket.SHUT_WR)
        assert process.wait(TIMEOUT) == 0
    finally:
        host.close()
        if process.poll() is None:
            process.kill()
    assert {t["name"] for t in answers(received)[2]["result"]["tools"]} == tool_catalog.model_facing()
