"""CI checks with clients nobody here wrote: the official MCP Inspector CLI, and the bundle.

Run by `.ci/run` before the Python tests, once Node and the pinned npm tools are there:

    python .ci/host_checks.py --inspector "npx -y @modelcontextprotocol/inspector@X" \
        --server .venv/bin/venice-keys-mcp --bundle dist/venice-keys-mcp.mcpb --uv /path/to/uv

Why a third-party client: our own tests drive the server with the Python SDK's `Client`,
which shares the server's code and could share its mistakes. The Inspector is built on
the TypeScript SDK, so a tool list, a result or a schema that only the Python side
accepts fails here. Why the bundle is started too: `mcpb pack` checks the manifest's
shape, not that the command it declares really starts this server from the files packed.

Every check prints one line; the first failure stops the run with exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
TOOL_NAMES = [t["name"] for t in MANIFEST["tools"]]
CALL_TIMEOUT = 120.0  # one Inspector run; the first one may still be unpacking packages

# What a uv bundle must carry (the host builds it with `uv run`) and must not (it installs its own).
BUNDLE_REQUIRED = {"manifest.json", "pyproject.toml", "README.md", "LICENSE", "venice_keys_mcp/__main__.py"}
BUNDLE_FORBIDDEN_PREFIXES = (
    ".venv/",
    "tests/",
    ".ci/",
    "docs/",
    "scripts/",
    "dist/",
    "node_modules/",
    ".git/",
)
BUNDLE_MAX_BYTES = 1_000_000


class CheckFailed(RuntimeError):
    pass


def ok(message: str) -> None:
    print(f"ok   {message}", flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Inspector:
    """`inspector --cli` with JSON output; the server's files go to a scratch directory."""

    def __init__(self, command: str, scratch: Path) -> None:
        self.base = [*shlex.split(command), "--cli", "--format", "json"]
        self.server_env = {
            "VENICE_KEYS_SECRETS_DIR": str(scratch / "secrets"),
            "VENICE_KEYS_AUDIT_LOG": str(scratch / "audit.jsonl"),
            "UV_CACHE_DIR": str(scratch / "uv-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
        }
        # The Inspector gives a stdio server a minimal environment; a machine whose TLS goes
        # through a local CA needs these for uv to reach the package index.
        for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            if os.environ.get(name):
                self.server_env[name] = os.environ[name]
        self.http_token: str | None = None  # the HTTP server's bearer token, once one runs
        self.env = {
            **os.environ,
            "MCP_CATALOG_PATH": str(scratch / "inspector-catalog.json"),
            "MCP_CLIENT_CONFIG_PATH": str(scratch / "inspector-client.json"),
        }

    def run(self, target: list[str], *options: str, stdio: bool = True) -> tuple[int, Any, str]:
        """Run one Inspector command; returns (exit code, parsed stdout, stderr).

        Over HTTP the server's bearer token goes in `--header`, before the other options:
        the flag takes several values and would swallow a URL that followed it.
        """
        env_flags = [f for k, v in self.server_env.items() for f in ("-e", f"{k}={v}")] if stdio else []
        if not stdio and self.http_token:
            env_flags = ["--header", f"Authorization: Bearer {self.http_token}"]
        argv = [*self.base, *env_flags, *options, *target]
        proc = subprocess.run(
            argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CALL_TIMEOUT
        )
        try:
            payload = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            raise CheckFailed(
                f"Inspector printed something that is not JSON (exit {proc.returncode}):\n"
                f"{proc.stdout[:2000]}\n{proc.stderr[-2000:]}"
            ) from None
        return proc.returncode, payload, proc.stderr

    def result(self, target: list[str], *options: str, stdio: bool = True) -> dict[str, Any]:
        code, payload, stderr = self.run(target, "-q", *options, stdio=stdio)
        expect(
            code == 0 and isinstance(payload, dict) and "result" in payload,
            f"Inspector {' '.join(options)} failed (exit {code}): "
            f"{json.dumps(payload)[:1500]}\n{stderr[-2000:]}",
        )
        return payload["result"]  # type: ignore[no-any-return]

    def call(
        self, target: list[str], tool: str, args: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        options = ["--method", "tools/call", "--tool-name", tool]
        if args:
            options += ["--tool-args-json", json.dumps(args)]
        result = self.result(target, *options, **kw)
        expect(not result.get("isError"), f"{tool} returned isError: {json.dumps(result)[:1500]}")
        return result


def check_tools_list_strict(inspector: Inspector, target: list[str]) -> None:
    """`--strict` lints every input and output schema; any error or warning fails the run.

    A warning is a schema that constrains nothing or spells a type in a way some clients
    drop: the point of typed output schemas is that a client can catch a wrong answer.
    """
    code, payload, stderr = inspector.run(target, "--strict", "--method", "tools/list")
    expect(code == 0, f"tools/list --strict found schema portability errors (exit {code}):\n{stderr[-4000:]}")
    findings = [line for line in stderr.splitlines() if line.startswith(("Warning: ", "Error: "))]
    summary = next((line for line in stderr.splitlines() if " errors, " in line and " warnings" in line), "")
    expect(not findings, f"tools/list --strict reported {summary or len(findings)}:\n{stderr[-4000:]}")
    names = [t["name"] for t in payload["result"]["tools"]]
    expect(names == TOOL_NAMES, f"tools/list gave {names}, the manifest lists {TOOL_NAMES}")
    tools = payload["result"]["tools"]
    untyped = [t["name"] for t in tools if not t.get("outputSchema", {}).get("properties")]
    expect(not untyped, f"tools without a typed output schema: {untyped}")
    ok(f"tools/list --strict: {len(names)} tools, as in manifest.json; 0 errors, 0 warnings")


def check_stdio(inspector: Inspector, server: str) -> None:
    target = [server, "--sandbox"]
    check_tools_list_strict(inspector, target)

    modern = inspector.result(target, "--protocol-era", "modern", "--method", "tools/list")
    expect([t["name"] for t in modern["tools"]] == TOOL_NAMES, "tools/list differs on the 2026-07-28 era")
    ok("tools/list on the modern (2026-07-28) protocol era: same tools")

    listed = inspector.call(target, "list_keys")["structuredContent"]
    keys = listed.get("keys") or []
    expect(len(keys) >= 5 and all("id" in k for k in keys), f"list_keys returned too few keys: {listed}")
    expect(listed.get("total", 0) >= len(keys), f"list_keys total is inconsistent: {listed}")
    ok(f"tools/call list_keys: {len(keys)} of {listed.get('total')} keys, structured")

    limits = inspector.call(target, "get_limits")["structuredContent"]
    models = limits.get("models") or []
    expect(len(models) >= 1 and all("model" in m for m in models), f"get_limits returned no models: {limits}")
    ok(f"tools/call get_limits: {len(models)} models, access_permitted={limits.get('access_permitted')}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_state_env(scratch: Path) -> dict[str, str]:
    """The files the HTTP server and `venice-keys-mcp approve` share: one state folder, one audit log."""
    return {
        "VENICE_KEYS_AUDIT_LOG": str(scratch / "http-audit.jsonl"),
        "VENICE_KEYS_STATE_DIR": str(scratch / "http-state"),
        "XDG_STATE_HOME": str(scratch / "http-xdg-state"),
    }


@contextlib.contextmanager
def http_server(server: str, scratch: Path) -> Iterator[tuple[str, str]]:
    """`venice-keys-mcp --sandbox --transport http` on a free loopback port, stopped afterwards.

    Started as a person would, without VENICE_KEYS_HTTP_TOKEN: yields the URL and the bearer
    token the server made for itself, read from its file in the (scratch) state folder.
    """
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "VENICE_KEYS_HTTP_TOKEN"},
        "VENICE_KEYS_SECRETS_DIR": str(scratch / "http-secrets"),
        **http_state_env(scratch),
    }
    log = (scratch / "http-server.log").open("wb")
    proc = subprocess.Popen(
        [server, "--sandbox", "--transport", "http", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            expect(proc.poll() is None, f"the HTTP server exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            expect(time.monotonic() < deadline, "the HTTP server did not listen within 30 s")
            time.sleep(0.2)
        token = (scratch / "http-state" / "sandbox-http-token").read_text().strip()
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def check_http_confirmation(inspector: Inspector, server: str, scratch: Path) -> None:
    """Over HTTP, a client with neither forms nor Apps gets the terminal channel.

    The revoke waits for a person; the same call with the approval_id alone changes nothing;
    `venice-keys-mcp approve`, run on a pseudo-terminal as a person would, approves it; the
    agent's next call carries it out once, and a replay is refused.
    """
    with http_server(server, scratch) as (url, http_token):
        target = [url]
        code, _, _ = inspector.run(target, "-q", "--method", "tools/list", stdio=False)
        expect(code != 0, "the HTTP server answered tools/list without its bearer token")
        ok("HTTP: a client without the server's bearer token is refused")
        inspector.http_token = http_token
        found = inspector.call(target, "list_keys", {"search": "CI deploy bot"}, stdio=False)
        keys = found["structuredContent"]["keys"]
        expect(len(keys) == 1, f"expected the seeded 'CI deploy bot' key, got {keys}")
        key_id, last6 = keys[0]["id"], keys[0]["last6"]

        first = inspector.call(target, "revoke_key", {"key_id": key_id}, stdio=False)["structuredContent"]
        expect(
            first.get("status") == "awaiting_approval" and first.get("approval_id"),
            f"a revoke without a form did not wait for the person: {first}",
        )
        approval = {"key_id": key_id, "approval_id": first["approval_id"]}
        early = inspector.call(target, "revoke_key", approval, stdio=False)["structuredContent"]
        still = inspector.call(target, "get_key", {"key_id": key_id}, stdio=False)["structuredContent"]
        expect(
            early.get("status") == "awaiting_approval" and still.get("id") == key_id,
            f"the approval_id alone changed something: {early} / {still}",
        )
        ok("HTTP: revoke_key without a form waits for the person; the approval_id alone revokes nothing")

        screen = approve_on_a_terminal(server, scratch, last6)
        expect("Approved" in screen, f"venice-keys-mcp approve did not approve:\n{screen}")
        done = inspector.call(target, "revoke_key", approval, stdio=False)
        expect(done["structuredContent"].get("status") == "revoked", f"the approved revoke failed: {done}")
        after = inspector.call(target, "list_keys", {"search": "CI deploy bot"}, stdio=False)
        expect(after["structuredContent"]["keys"] == [], "the revoked key is still listed")
        _, again, _ = inspector.run(
            target,
            "-q",
            "--method",
            "tools/call",
            "--tool-name",
            "revoke_key",
            "--tool-args-json",
            json.dumps(approval),
            stdio=False,
        )
        replay = (again or {}).get("result") or {}
        expect(
            replay.get("isError") or (replay.get("structuredContent") or {}).get("status") != "revoked",
            f"a replayed approval revoked again: {again}",
        )
        ok("HTTP: approved at the terminal (a pty), the agent's next call revokes once; a replay is refused")
    verify = subprocess.run(
        [server, "audit", "verify", "--file", str(scratch / "http-audit.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    expect(verify.returncode == 0, f"audit verify failed after the revoke: {verify.stdout}{verify.stderr}")
    ok(f"audit verify: {verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else 'chain intact'}")


def approve_on_a_terminal(server: str, scratch: Path, typed: str) -> str:
    """Run `venice-keys-mcp approve --sandbox` on a pseudo-terminal and type `typed` at its prompt."""
    import pty
    import select

    env = {**os.environ, **http_state_env(scratch)}
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [server, "approve", "--sandbox"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = ""
    try:
        deadline = time.monotonic() + 30
        typed_yet = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk.decode("utf-8", "replace")
            if not typed_yet and "to approve" in screen:
                os.write(master, typed.encode() + b"\r")
                typed_yet = True
            if proc.poll() is not None and not ready:
                break
        proc.wait(10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return screen


def check_bundle(inspector: Inspector, bundle: Path, uv: str, scratch: Path) -> None:
    """The .mcpb is a small zip of the project, and its declared command starts the server."""
    expect(zipfile.is_zipfile(bundle), f"{bundle} is not a zip archive")
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        packed_manifest = json.loads(archive.read("manifest.json"))
        missing = BUNDLE_REQUIRED - names
        expect(not missing, f"the bundle lacks {sorted(missing)}")
        stray = sorted(n for n in names if n.startswith(BUNDLE_FORBIDDEN_PREFIXES) or "__pycache__" in n)
        expect(not stray, f"the bundle carries files it should not: {stray[:10]}")
        archive.extractall(scratch / "bundle")
    size = bundle.stat().st_size
    expect(size < BUNDLE_MAX_BYTES, f"the bundle is {size} bytes; something large slipped past .mcpbignore")
    expect(packed_manifest == MANIFEST, "the packed manifest.json differs from the repository's")
    ok(f"bundle {bundle.name}: {len(names)} files, {size // 1024} KiB, manifest as in the repository")

    config = MANIFEST["server"]["mcp_config"]
    expect(config["command"] == "uv", f"a uv bundle should start with uv, not {config['command']!r}")
    directory = str(scratch / "bundle")
    args = [a.replace("${__dirname}", directory) for a in config["args"]]
    started = time.monotonic()
    install = subprocess.run(
        [uv, *args, "--version"],
        env={**os.environ, **inspector.server_env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    expect(install.returncode == 0, f"uv could not install the bundle:\n{install.stderr[-3000:]}")
    took = time.monotonic() - started
    ok(f"bundle installed by uv as a host would, in {took:.1f} s: {install.stdout.strip()}")
    code, payload, stderr = inspector.run([uv, *args, "--sandbox"], "-q", "--method", "tools/list")
    expect(
        code == 0 and payload and "result" in payload,
        f"the bundle's command did not serve tools/list (exit {code}):\n{stderr[-3000:]}",
    )
    names_live = [t["name"] for t in payload["result"]["tools"]]
    expect(names_live == TOOL_NAMES, f"the bundle serves {names_live}")
    declared = " ".join(config["args"])
    ok(f"bundle started as the manifest declares (uv {declared}): {len(names_live)} tools")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--inspector", required=True, help="command that runs the Inspector, e.g. 'npx -y ...'"
    )
    parser.add_argument("--server", required=True, help="the installed venice-keys-mcp executable")
    parser.add_argument("--bundle", type=Path, help="the packed .mcpb to check and start")
    parser.add_argument("--uv", help="uv executable, to start the bundle as a host would")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="venice-keys-host-checks-") as tmp:
        scratch = Path(tmp)
        inspector = Inspector(args.inspector, scratch)
        try:
            check_stdio(inspector, args.server)
            check_http_confirmation(inspector, args.server, scratch)
            if args.bundle:
                expect(bool(args.uv), "--bundle needs --uv")
                check_bundle(inspector, args.bundle, args.uv, scratch)
        except (CheckFailed, subprocess.TimeoutExpired) as exc:
            print(f"FAIL {exc}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
