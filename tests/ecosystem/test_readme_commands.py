"""Every command and host configuration in the README works, as written.

The README's fenced `bash` blocks are split into commands, and each one is either run
here or named in `ELSEWHERE` with the place that runs it (and a check that it still
does). A command added to the README without either fails
`test_every_readme_command_is_accounted_for`. Each `json` block must parse, and each
host configuration in it must start a server that answers `tools/list`, launched the
way hosts launch it (the SDK's stdio client, which passes only a minimal environment).

Stand-ins: `.venv/bin/` and `/path/to/venice-keys-mcp/.venv/bin/` become the venv that
runs the suite; port 8787 becomes the loopback sandbox's port, 8765 a free port; a real
ADMIN key (`YOUR_ADMIN_KEY`, VS Code's `${input:...}`) becomes the loopback sandbox's
admin key, with `VENICE_BASE_URL` pointing there (the real Venice is not reachable here).
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from venice_keys_mcp import __version__

from .conftest import BIN, CI_RUN, REPO, clean_env, manifest, run

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)
TOOL_NAMES = [t["name"] for t in manifest()["tools"]]
CI_TEXT = CI_RUN.read_text(encoding="utf-8")
HOST_CHECKS = (REPO / ".ci" / "host_checks.py").read_text(encoding="utf-8")
START_TIMEOUT = 30.0

# Placeholders a reader replaces, and what stands in for them here.
ADMIN_PLACEHOLDERS = ("YOUR_ADMIN_KEY", "PASTE_ADMIN_KEY_FROM_FIRST_LINE", "${input:venice-admin-key}")
INFERENCE_PLACEHOLDER = "PASTE_INFERENCE_KEY_FROM_FIRST_LINE"
#: The repository's address in the README (OWNER until it has one; server.json names the same owner).
GIT_URL = "git+https://github.com/OWNER/venice-keys-mcp"


def _ci_value(name: str) -> str:
    match = re.search(rf'^{name}="?([^"\s]+)"?', CI_TEXT, flags=re.MULTILINE)
    assert match, f".ci/run has no {name}="
    return match.group(1)


def _ci_runs(fragment: str) -> bool:
    """True when `.ci/run`, with its pinned-version variables expanded, contains `fragment`."""
    text = CI_TEXT
    for name in ("MCPB", "INSPECTOR"):
        text = text.replace(f'"${name}"', _ci_value(name)).replace(f"${name}", _ci_value(name))
    return fragment in text


#: Commands run somewhere other than this file: where, and a check that they still are.
ELSEWHERE: dict[str, tuple[str, Any]] = {
    "python3 -m venv .venv": (".ci/run", lambda: _ci_runs("python3 -m venv .venv")),
    ".venv/bin/pip install -e '.[web3,test]'": (
        ".ci/run",
        lambda: _ci_runs(".venv/bin/pip install -e '.[web3,test]'"),
    ),
    ".venv/bin/python -m pytest": (
        ".ci/run, last",
        lambda: CI_TEXT.rstrip().endswith(".venv/bin/python -m pytest"),
    ),
    "npx -y @anthropic-ai/mcpb@2.1.2 pack . dist/venice-keys-mcp.mcpb": (
        ".ci/run, then .ci/host_checks.py starts the bundle",
        lambda: _ci_runs("npx -y @anthropic-ai/mcpb@2.1.2 pack . dist/venice-keys-mcp.mcpb"),
    ),
    # Installing without a clone: .ci/run builds the wheel and installs it, from the built wheel,
    # the clone's path and its git+file:// URL (the README's https address needs the network).
    f"uv tool install {GIT_URL}": (
        ".ci/run, from the built wheel",
        lambda: _ci_runs('uv" tool install -q "$wheel"'),
    ),
    f"pipx install {GIT_URL}": (
        ".ci/run, from the clone's path",
        lambda: _ci_runs('pipx install --quiet "$PWD"'),
    ),
    f"uvx --from {GIT_URL} venice-keys-mcp --sandbox": (
        ".ci/run, from the wheel and from git+file:// of the clone, answering tools/list",
        lambda: _ci_runs('uvx" --from "git+file://$PWD" venice-keys-mcp --sandbox')
        and _ci_runs('uvx" --from "$wheel" venice-keys-mcp --sandbox'),
    ),
    "npx -y @modelcontextprotocol/inspector@2.12.0 --cli --method tools/list "
    ".venv/bin/venice-keys-mcp --sandbox": (
        ".ci/host_checks.py, via .ci/run",
        lambda: (
            _ci_runs("npx -y @modelcontextprotocol/inspector@2.12.0")
            and _ci_runs("--server .venv/bin/venice-keys-mcp")
            and '"--method", "tools/list"' in HOST_CHECKS
            and '[server, "--sandbox"]' in HOST_CHECKS
        ),
    ),
}


def readme_blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def readme_commands(text: str) -> list[str]:
    """Each command of each `bash` block; `a && b` counts as two commands."""
    out = []
    for block in readme_blocks(text, "bash"):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out += [part.strip() for part in line.split(" && ")]
    return out


def command(readme_text: str, pattern: str) -> str:
    """The one README command matching `pattern` (a regular expression)."""
    found = [c for c in readme_commands(readme_text) if re.search(pattern, c)]
    assert len(found) == 1, f"expected one README command matching {pattern!r}, found {found}"
    return found[0]


def localize(text: str, sandbox: Any | None = None, port: int | None = None) -> str:
    """Put this machine's paths, ports and sandbox keys in place of the README's stand-ins."""
    text = re.sub(r"(?:/path/to/venice-keys-mcp/|(?<![\w/]))\.venv/bin/", lambda _: f"{BIN}/", text)
    if port is not None:
        text = text.replace("8765", str(port))
    if sandbox is not None:
        text = text.replace("http://127.0.0.1:8787/api/v1", sandbox.base_url)
        for placeholder in ADMIN_PLACEHOLDERS:
            text = text.replace(placeholder, sandbox.admin_key)
        text = text.replace(INFERENCE_PLACEHOLDER, sandbox.inference_key)
    return text


def test_every_readme_command_is_accounted_for(readme_text):
    here = set(RUN_HERE)
    listed = set(readme_commands(readme_text))
    unaccounted = listed - here - set(ELSEWHERE)
    assert not unaccounted, f"README commands nobody runs: {sorted(unaccounted)}"
    stale = (here | set(ELSEWHERE)) - listed
    assert not stale, f"no longer in the README, drop them here: {sorted(stale)}"


@pytest.mark.parametrize("cmd", sorted(ELSEWHERE))
def test_commands_run_elsewhere_are_still_run_there(cmd):
    where, still_there = ELSEWHERE[cmd]
    assert still_there(), f"{cmd!r} should be exercised by {where}, but is not"


# --- one-shot commands ------------------------------------------------------------------------


def test_version_prints_the_package_version(readme_text, tmp_path):
    result = run(shlex.split(localize(command(readme_text, r"--version$"))), clean_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.strip() == f"venice-keys-mcp {__version__}"


def test_help_names_the_commands_the_readme_documents(readme_text, tmp_path):
    result = run(shlex.split(localize(command(readme_text, r"--help$"))), clean_env(tmp_path))
    assert result.returncode == 0
    for word in ("sandbox", "doctor", "audit", "--sandbox", "--transport", "--read-only", "--log-level"):
        assert word in result.stdout


def test_doctor_on_the_embedded_sandbox_passes(readme_text, tmp_path):
    result = run(shlex.split(localize(command(readme_text, r"doctor --sandbox$"))), clean_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and "ADMIN key" in result.stdout


def _bash(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(["bash", "-c", cmd], env)


def test_doctor_with_a_real_admin_key_passes(readme_text, loopback_sandbox, tmp_path):
    cmd = localize(command(readme_text, r"^VENICE_ADMIN_KEY=YOUR_ADMIN_KEY .*doctor$"), loopback_sandbox)
    result = _bash(cmd, clean_env(tmp_path, VENICE_BASE_URL=loopback_sandbox.base_url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert loopback_sandbox.admin_key not in result.stdout + result.stderr, "doctor printed the key"


def test_doctor_names_an_inference_key_and_the_fix(readme_text, loopback_sandbox, tmp_path):
    cmd = localize(command(readme_text, INFERENCE_PLACEHOLDER), loopback_sandbox)
    result = _bash(cmd, clean_env(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INFERENCE key" in result.stdout and "fix:" in result.stdout
    assert loopback_sandbox.inference_key not in result.stdout + result.stderr


def test_doctor_against_the_loopback_sandbox_passes(readme_text, loopback_sandbox, tmp_path):
    cmd = localize(command(readme_text, r"^VENICE_BASE_URL=.*SANDBOX_ADMIN_KEY .*doctor$"), loopback_sandbox)
    result = _bash(cmd, clean_env(tmp_path, SANDBOX_ADMIN_KEY=loopback_sandbox.admin_key))
    assert result.returncode == 0, result.stdout + result.stderr


# --- the loopback sandbox and curl ------------------------------------------------------------


def test_sandbox_first_line_has_what_the_readme_promises(readme_text, loopback_sandbox):
    assert command(readme_text, r"sandbox --port 8787$") == ".venv/bin/venice-keys-mcp sandbox --port 8787"
    assert {"base_url", "admin_key", "inference_key"} <= set(loopback_sandbox.info)
    assert loopback_sandbox.base_url.startswith("http://127.0.0.1:")


def _curl_with_httpx(cmd: str, env: dict[str, str]) -> str:
    """Do what a `curl -s [-i] [-H h] URL` line does, for machines without curl."""
    argv = [re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), a) for a in shlex.split(cmd)]
    headers, url, include = {}, "", False
    i = 1
    while i < len(argv):
        if argv[i] == "-H":
            name, _, value = argv[i + 1].partition(":")
            headers[name.strip()] = value.strip()
            i += 1
        elif argv[i] == "-i":
            include = True
        elif not argv[i].startswith("-"):
            url = argv[i]
        i += 1
    response = httpx2.get(url, headers=headers, timeout=10.0)
    head = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n\r\n" if include else ""
    return head + response.text


CURL_RUNNERS = ["httpx", *(["curl"] if shutil.which("curl") else [])]


def _curl(cmd: str, env: dict[str, str], runner: str) -> str:
    if runner == "curl":
        result = _bash(cmd, env)
        assert result.returncode == 0, result.stderr
        return result.stdout
    return _curl_with_httpx(cmd, env)


@pytest.mark.parametrize("runner", CURL_RUNNERS)
def test_curl_with_the_demo_admin_key_lists_keys(readme_text, loopback_sandbox, tmp_path, runner):
    exported = command(readme_text, r"^export SANDBOX_ADMIN_KEY=")
    name, _, value = exported.removeprefix("export ").partition("=")
    env = clean_env(tmp_path, **{name: localize(value, loopback_sandbox)})
    cmd = localize(command(readme_text, r"^curl -s -H"), loopback_sandbox)
    body = json.loads(_curl(cmd, env, runner))
    assert len(body["data"]) >= 10 and all("id" in key for key in body["data"])


@pytest.mark.parametrize("runner", CURL_RUNNERS)
def test_curl_without_a_key_gets_402(readme_text, loopback_sandbox, tmp_path, runner):
    cmd = localize(command(readme_text, r"^curl -s -i "), loopback_sandbox)
    status_line = _curl(cmd, clean_env(tmp_path), runner).splitlines()[0]
    assert " 402" in status_line


# --- servers the way hosts start them ------------------------------------------------------------


async def _tools_over_stdio(argv: list[str], env: dict[str, str]) -> list[str]:
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    with anyio.fail_after(START_TIMEOUT):
        async with Client(params, mode="legacy") as client:
            return [t.name for t in (await client.list_tools()).tools]


def _server_files(tmp_path: Path) -> dict[str, str]:
    return {
        "VENICE_KEYS_SECRETS_DIR": str(tmp_path / "secrets"),
        "VENICE_KEYS_AUDIT_LOG": str(tmp_path / "audit"),
    }


def _claude_code_launch(cmd: str) -> tuple[list[str], dict[str, str]]:
    """`claude mcp add NAME [-e K=V]... -- COMMAND ARGS...` -> (argv, env)."""
    argv = shlex.split(cmd)
    split = argv.index("--")
    head, launch = argv[:split], argv[split + 1 :]
    env = dict(head[i + 1].split("=", 1) for i, arg in enumerate(head) if arg in ("-e", "--env"))
    assert head[:4] == ["claude", "mcp", "add", "venice-keys"] or "venice-keys" in head
    return launch, env


def _launches(readme_text: str, sandbox: Any) -> list[tuple[str, list[str], dict[str, str]]]:
    """(where, argv, env) for every stdio launch in the README, stand-ins filled in.

    The quick start's `--sandbox` server is the same launch as the sandbox host configurations,
    so it is started once for all of them.
    """
    quick = command(readme_text, r"^\.venv/bin/venice-keys-mcp --sandbox$")
    out = [("quick start", shlex.split(localize(quick)), {})]
    for cmd in readme_commands(readme_text):
        if cmd.startswith("claude mcp add") and " -- " in cmd:
            argv, env = _claude_code_launch(localize(cmd, sandbox))
            out.append(("Claude Code", argv, env))
    for block in readme_blocks(readme_text, "json"):
        config = json.loads(block)
        key = "servers" if "servers" in config else "mcpServers"
        entry = config[key]["venice-keys"]
        if key == "servers":
            assert entry["type"] == "stdio", "VS Code entries need a type"
        launch = json.loads(localize(json.dumps(entry), sandbox))
        argv = [launch["command"], *launch.get("args", [])]
        where = f"JSON {key}"
        if argv[0] == "uvx":  # what uvx would start; .ci/run starts it with uvx itself
            assert argv[1:4] == ["--from", GIT_URL, "venice-keys-mcp"], argv
            argv, where = [str(BIN / "venice-keys-mcp"), *argv[4:]], "JSON mcpServers, uvx"
        out.append((where, argv, launch.get("env", {})))
    return out


def test_every_json_block_parses_and_configures_this_server(readme_text):
    blocks = readme_blocks(readme_text, "json")
    assert len(blocks) == 4
    configs = [json.loads(block) for block in blocks]
    assert sum("servers" in c for c in configs) == 1 and sum("mcpServers" in c for c in configs) == 3


@pytest.mark.anyio
async def test_host_configurations_start_a_server_that_answers(readme_text, loopback_sandbox, tmp_path):
    launches = _launches(readme_text, loopback_sandbox)
    assert {where for where, _, _ in launches} == {
        "quick start",
        "Claude Code",
        "JSON mcpServers",
        "JSON mcpServers, uvx",
        "JSON servers",
    }
    started: dict[str, list[str]] = {}
    for where, argv, env in launches:
        full = {**env, **_server_files(tmp_path)}
        if "VENICE_ADMIN_KEY" in env:
            assert env["VENICE_ADMIN_KEY"] == loopback_sandbox.admin_key, where
            full["VENICE_BASE_URL"] = loopback_sandbox.base_url  # the real Venice is not reachable here
        else:
            assert "--sandbox" in argv, f"{where}: neither a key nor --sandbox"
        spec = json.dumps([argv, full], sort_keys=True)
        if spec not in started:
            started[spec] = await _tools_over_stdio(argv, full)
        assert started[spec] == TOOL_NAMES, where
    assert len(started) == 2, "the sandbox launch and the real-key launch"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serving(argv: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                assert proc.poll() is None, f"the server exited: {log.read_text(errors='replace')[-2000:]}"
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                assert time.monotonic() < deadline, "the HTTP server did not listen in time"
                time.sleep(0.1)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _claude_argv(line: str, env: dict[str, str]) -> list[str]:
    """The arguments `claude` would get from this README line, after the shell expands it."""
    shim = 'claude() { printf "%s\\0" "$@"; }; '
    done = subprocess.run(["bash", "-c", shim + line], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\0")[:-1]


@pytest.mark.anyio
async def test_http_mode_serves_the_url_given_to_claude_code(readme_text, tmp_path):
    port = _free_port()
    state = tmp_path / "state"
    env = clean_env(tmp_path, XDG_STATE_HOME=str(state))
    serve = shlex.split(localize(command(readme_text, r"--transport http --port 8765$"), port=port))
    line = localize(command(readme_text, r"^claude mcp add --transport http "), port=port)
    with _serving(serve, env, port, tmp_path / "http.log"):
        # The README's command reads the token the server made on first start, as a person's shell would.
        claude = _claude_argv(line.replace("~/.local/state", str(state)), env)
        url = claude[claude.index("venice-keys") + 1]
        assert url == f"http://127.0.0.1:{port}/mcp"
        name, value = claude[claude.index("--header") + 1].split(": ", 1)
        assert name == "Authorization" and value.startswith("Bearer ") and len(value) > len("Bearer ") + 16
        refused = httpx2.post(url, json={}, headers={"accept": "application/json, text/event-stream"})
        assert refused.status_code == 401
        with anyio.fail_after(START_TIMEOUT):
            async with (
                httpx2.AsyncClient(headers={name: value}, timeout=10.0) as http,
                Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
            ):
                names = [t.name for t in (await client.list_tools()).tools]
                listed = await client.call_tool("list_keys", {})
    assert names == TOOL_NAMES
    assert listed.structured_content is not None and listed.structured_content["keys"]


#: Commands this file runs, and the test that runs each.
RUN_HERE = {
    ".venv/bin/venice-keys-mcp --sandbox": test_host_configurations_start_a_server_that_answers,
    ".venv/bin/venice-keys-mcp --version": test_version_prints_the_package_version,
    ".venv/bin/venice-keys-mcp --help": test_help_names_the_commands_the_readme_documents,
    ".venv/bin/venice-keys-mcp doctor --sandbox": test_doctor_on_the_embedded_sandbox_passes,
    "VENICE_ADMIN_KEY=YOUR_ADMIN_KEY .venv/bin/venice-keys-mcp doctor": (
        test_doctor_with_a_real_admin_key_passes
    ),
    "claude mcp add venice-keys -- /path/to/venice-keys-mcp/.venv/bin/venice-keys-mcp --sandbox": (
        test_host_configurations_start_a_server_that_answers
    ),
    "claude mcp add venice-keys -e VENICE_ADMIN_KEY=YOUR_ADMIN_KEY -- "
    "/path/to/venice-keys-mcp/.venv/bin/venice-keys-mcp": (
        test_host_configurations_start_a_server_that_answers
    ),
    ".venv/bin/venice-keys-mcp --sandbox --transport http --port 8765": (
        test_http_mode_serves_the_url_given_to_claude_code
    ),
    "claude mcp add --transport http venice-keys http://127.0.0.1:8765/mcp --header "
    '"Authorization: Bearer $(cat ~/.local/state/venice-keys-mcp/sandbox-http-token)"': (
        test_http_mode_serves_the_url_given_to_claude_code
    ),
    ".venv/bin/venice-keys-mcp sandbox --port 8787": test_sandbox_first_line_has_what_the_readme_promises,
    "export SANDBOX_ADMIN_KEY=PASTE_ADMIN_KEY_FROM_FIRST_LINE": test_curl_with_the_demo_admin_key_lists_keys,
    'curl -s -H "Authorization: Bearer $SANDBOX_ADMIN_KEY" http://127.0.0.1:8787/api/v1/api_keys': (
        test_curl_with_the_demo_admin_key_lists_keys
    ),
    "VENICE_BASE_URL=http://127.0.0.1:8787/api/v1 VENICE_ADMIN_KEY=$SANDBOX_ADMIN_KEY "
    ".venv/bin/venice-keys-mcp doctor": test_doctor_against_the_loopback_sandbox_passes,
    f"VENICE_BASE_URL=http://127.0.0.1:8787/api/v1 VENICE_ADMIN_KEY={INFERENCE_PLACEHOLDER} "
    ".venv/bin/venice-keys-mcp doctor": test_doctor_names_an_inference_key_and_the_fix,
    "curl -s -i http://127.0.0.1:8787/api/v1/api_keys": test_curl_without_a_key_gets_402,
}
