"""HTTP always needs a bearer token; the one the server makes is kept privately; sessions are bounded.

Issue 12, finding 1: another local user reached `--transport http` on 127.0.0.1 with no
token, listed keys and answered the revoke form. Finding 8: 1,500 sessions grew the
server by 54 MB. Every test here runs the real server process on a real loopback socket;
the token file lives under the test's own XDG_STATE_HOME (support.server_process).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import secrets
import select
import stat
import subprocess
import time
from collections.abc import Iterator

import httpx2
import pytest
from support.server_process import (
    REPO_ROOT,
    ServerProcess,
    run_cli,
    running_http_server,
    server_command,
    server_env,
    stop,
    token_file,
)

from tests.server.test_http import initialize
from venice_keys_mcp.http_token import TokenFileError, load_or_create_token

WAIT = 30.0  # bound on every poll below; never asserted as a duration


def session_ping(server: ServerProcess, session_id: str) -> int:
    """The status a request on an existing session gets: 200 while it is held, 404 once it is gone."""
    headers = {
        **server.auth,
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-session-id": session_id,
        "mcp-protocol-version": "2025-11-25",
    }
    r = httpx2.post(
        server.url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=headers, timeout=10.0
    )
    return r.status_code


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# --- the generated token: made, kept private, reused --------------------------------------------


def test_default_start_makes_a_private_token_file_and_requires_it(tmp_path):
    env = server_env(tmp_path)
    path = token_file(env)
    with running_http_server("--sandbox", env=env, port=0) as server:
        assert initialize(server).status_code == 401
        token = path.read_text().strip()
        assert len(token) >= 40  # token_urlsafe(32)
        assert initialize(server, {"authorization": f"Bearer {token}"}).status_code == 200
    info = path.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_restart_reuses_the_token_so_a_configured_host_keeps_working(tmp_path):
    env = server_env(tmp_path)
    with running_http_server("--sandbox", env=env, port=0) as first:
        token = first.token
    with running_http_server("--sandbox", env=env, port=0) as second:
        assert second.token == token
        assert initialize(second, {"authorization": f"Bearer {token}"}).status_code == 200


def test_sandbox_and_real_server_never_share_a_token(tmp_path):
    # A real server starts without reaching Venice (its client is built on first use).
    env = server_env(
        tmp_path, VENICE_ADMIN_KEY=secrets.token_hex(16), VENICE_BASE_URL="http://127.0.0.1:9/api/v1"
    )
    with running_http_server("--sandbox", env=env, port=0) as sandbox:
        pass
    with running_http_server(env=env, port=0) as real:
        assert initialize(real, sandbox.auth).status_code == 401
        assert initialize(real, real.auth).status_code == 200
    assert token_file(env, sandbox=True) != token_file(env, sandbox=False)
    assert sandbox.token != real.token


def test_a_symlink_planted_at_the_token_path_is_refused_and_never_followed(tmp_path):
    env = server_env(tmp_path)
    path = token_file(env)
    path.parent.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's own content\n")
    victim.chmod(0o644)
    dangling = tmp_path / "would-be-created"
    for target in (victim, dangling):
        path.unlink(missing_ok=True)
        path.symlink_to(target)
        done = run_cli("--sandbox", "--transport", "http", "--port", "0", env=env)
        assert done.returncode == 2
        line = one_line(done.stderr)
        assert "symlink" in line and str(path) in line, line
    assert victim.read_text() == "the victim's own content\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not dangling.exists()


def test_a_token_file_others_may_read_is_refused(tmp_path):
    env = server_env(tmp_path)
    path = token_file(env)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(secrets.token_urlsafe(32) + "\n")
    path.chmod(0o644)
    done = run_cli("--sandbox", "--transport", "http", "--port", "0", env=env)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert str(path) in line and "0644" in line, line


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user owns needs root")
def test_a_token_file_another_user_owns_is_refused(tmp_path):
    path = tmp_path / "state" / "http-token"
    path.parent.mkdir(mode=0o700)
    path.write_text(secrets.token_urlsafe(32) + "\n")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(TokenFileError, match="belongs to uid 65534"):
        load_or_create_token(path)


def test_two_starts_at_once_agree_on_one_token(tmp_path):
    path = tmp_path / "state" / "http-token"
    made = load_or_create_token(path)
    assert load_or_create_token(path) == made
    assert path.read_text() == made + "\n"


# --- --no-auth --------------------------------------------------------------------------------


def test_no_auth_serves_loopback_without_a_token_and_says_so_loudly(tmp_path):
    env = server_env(tmp_path)
    with running_http_server("--sandbox", "--no-auth", env=env, port=0) as server:
        assert server.token is None
        assert initialize(server).status_code == 200
        stderr = server.stderr()
    assert "WARNING: authentication is OFF (--no-auth)" in stderr
    assert re.search(r" WARNING venice_keys_mcp: HTTP authentication is OFF", stderr), stderr
    assert "--header" not in stderr and '"headers"' not in stderr
    assert not token_file(env).exists()
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [e["outcome"] for e in entries] == ["http_auth_off"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_no_auth_is_refused_off_loopback(tmp_path, host):
    env = server_env(tmp_path)
    done = run_cli("--sandbox", "--transport", "http", "--no-auth", "--host", host, "--port", "0", env=env)
    assert done.returncode == 2 and done.stdout == ""
    line = one_line(done.stderr)
    assert "--no-auth" in line and host in line, line


def test_no_auth_without_http_is_refused_rather_than_ignored(tmp_path):
    done = run_cli("--sandbox", "--no-auth", env=server_env(tmp_path))
    assert done.returncode == 2 and done.stdout == ""
    assert "--transport http" in one_line(done.stderr)


def test_no_auth_with_a_configured_token_is_refused(tmp_path):
    env = server_env(tmp_path, VENICE_KEYS_HTTP_TOKEN=secrets.token_urlsafe(24))
    done = run_cli("--sandbox", "--transport", "http", "--no-auth", "--port", "0", env=env)
    assert done.returncode == 2
    assert "--no-auth" in one_line(done.stderr)


# --- the banner: ready-made host commands ---------------------------------------------------------


@contextlib.contextmanager
def banner_on_a_terminal(env: dict[str, str]) -> Iterator[str]:
    """Start the server with stderr on a pseudo-terminal; yield everything it wrote up to 'Press Ctrl-C'."""
    master, slave = pty.openpty()
    argv = server_command("--sandbox", "--transport", "http", "--port", "0")
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env, cwd=REPO_ROOT
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + WAIT
        while b"Press Ctrl-C" not in seen:
            assert time.monotonic() < deadline and process.poll() is None, seen.decode("utf-8", "replace")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):  # EIO once the child has gone
                    seen += os.read(master, 65536)
        yield seen.decode("utf-8", "replace").replace("\r\n", "\n")
    finally:
        stop(process)
        os.close(master)


def test_banner_on_a_terminal_carries_ready_made_commands_with_the_token(tmp_path):
    env = server_env(tmp_path)
    with banner_on_a_terminal(env) as banner:
        token = token_file(env).read_text().strip()
        port = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", banner).group(1)  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/mcp"
    claude = f'claude mcp add --transport http venice-keys {url} --header "Authorization: Bearer {token}"'
    assert claude in banner
    vscode = next(line for line in banner.splitlines() if "VS Code (.vscode/mcp.json):" in line)
    block = json.loads(vscode.split("VS Code (.vscode/mcp.json):", 1)[1])
    assert block["servers"]["venice-keys"] == {
        "type": "http",
        "url": url,
        "headers": {"Authorization": f"Bearer {token}"},
    }
    # Only those two lines carry it.
    assert [line for line in banner.splitlines() if token in line] == [
        line for line in banner.splitlines() if "Claude Code:" in line or "VS Code" in line
    ]


def test_banner_into_a_pipe_or_file_names_the_token_file_never_the_token(tmp_path):
    env = server_env(tmp_path)
    with running_http_server("--sandbox", "--log-level", "DEBUG", env=env, port=0) as server:
        initialize(server, server.auth)
        stderr, stdout = server.stderr(), server.stdout()
        token = server.token
    path = token_file(env)
    assert token and token not in stderr and token not in stdout
    assert f'--header "Authorization: Bearer $(cat {path})"' in stderr
    assert f"Authorization: Bearer <the token in {path}>" in stderr
    assert '"Authorization": "Bearer ${input:venice-keys-token}"' in stderr


def test_the_claude_command_from_a_pipe_banner_reads_the_token_a_shell_would_send(tmp_path):
    # The $(cat FILE) form is run through a real shell, then the header it makes is sent.
    env = server_env(tmp_path)
    with running_http_server("--sandbox", env=env, port=0) as server:
        command = next(line for line in server.stderr().splitlines() if "Claude Code:" in line)
        header = re.search(r'--header ("Authorization: Bearer \$\(cat [^)]+\)")', command).group(1)  # type: ignore[union-attr]
        expanded = subprocess.run(
            ["sh", "-c", f"printf %s {header}"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
        name, value = expanded.split(": ", 1)
        assert initialize(server, {name: value}).status_code == 200


# --- bounded sessions (finding 8) ---------------------------------------------------------------


def open_session(server: ServerProcess) -> str:
    r = initialize(server, server.auth)
    assert r.status_code == 200, r.text
    return r.headers["mcp-session-id"]


def test_sessions_beyond_the_cap_get_503_and_room_comes_back_when_one_ends(tmp_path):
    env = server_env(tmp_path, VENICE_KEYS_HTTP_MAX_SESSIONS="3")
    with running_http_server("--sandbox", env=env, port=0) as server:
        held = [open_session(server) for _ in range(3)]
        for _ in range(5):  # a bounded burst past the cap: every one refused, none held
            refused = initialize(server, server.auth)
            assert refused.status_code == 503 and "mcp-session-id" not in refused.headers
            assert "Too many open sessions" in refused.text
        assert all(session_ping(server, sid) == 200 for sid in held)
        ended = httpx2.delete(server.url, headers={**server.auth, "mcp-session-id": held[0]}, timeout=10.0)
        assert ended.status_code == 200
        assert session_ping(server, held[0]) == 404
        open_session(server)  # the freed place
        assert initialize(server, server.auth).status_code == 503


def test_idle_sessions_expire_and_free_their_place(tmp_path):
    # The SDK times idleness with anyio's clock inside the server process, which a test cannot
    # inject; the idle period is set short and the test polls (bounded) for its effect instead.
    env = server_env(tmp_path, VENICE_KEYS_HTTP_MAX_SESSIONS="2", VENICE_KEYS_HTTP_SESSION_IDLE="0.5")
    with running_http_server("--sandbox", env=env, port=0) as server:
        held = [open_session(server) for _ in range(2)]
        deadline = time.monotonic() + WAIT
        while (status := initialize(server, server.auth).status_code) == 503:
            assert time.monotonic() < deadline, "idle sessions were never ended"
            time.sleep(0.2)
        assert status == 200
        # The first held session's end let the new one in; the second was opened a moment
        # later and may end a moment later (a ping would reset its idle time), so give it
        # two idle periods before asking.
        time.sleep(1.0)
        assert [session_ping(server, sid) for sid in held] == [404, 404]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VENICE_KEYS_HTTP_MAX_SESSIONS", "0"),
        ("VENICE_KEYS_HTTP_SESSION_IDLE", "inf"),
        ("VENICE_KEYS_HTTP_SESSION_IDLE", "-1"),
    ],
)
def test_unusable_session_bounds_are_one_line_and_exit_2(tmp_path, name, value):
    done = run_cli(
        "--sandbox", "--transport", "http", "--port", "0", env=server_env(tmp_path, **{name: value})
    )
    assert done.returncode == 2
    assert name in one_line(done.stderr)
