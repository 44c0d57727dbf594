"""What people get without cloning: the built wheel and sdist, and the server they install.

    python .ci/package_checks.py contents dist/
    python .ci/package_checks.py tools-list -- COMMAND [ARGS...]

`contents` checks the archives: the wheel carries the package and nothing else (no tests,
no CI, no virtual environment), and the sdist carries what building and testing need but
no local clutter (.venv, .ci, node_modules, caches, dist). `tools-list` starts COMMAND as
an MCP host does (the SDK's stdio client, a minimal environment) and checks that it
answers `tools/list` with the tools manifest.json lists, so every install form in the
README (`uv tool install`, `uvx --from`, `pipx install`) is proven to start a server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parent.parent
TOOL_NAMES = [t["name"] for t in json.loads((ROOT / "manifest.json").read_text())["tools"]]
PACKAGE = "venice_keys_mcp"
#: Top-level entries an sdist must have, and what it must never carry.
SDIST_REQUIRED = {"pyproject.toml", "README.md", "LICENSE", PACKAGE, "tests", "PKG-INFO"}
SDIST_FORBIDDEN = {".venv", ".ci", "node_modules", "dist", "build", ".git", ".hypothesis", ".pytest_cache"}
START_TIMEOUT = 180.0  # uvx may build and install the package first


def fail(message: str) -> None:
    print(f"FAIL {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def check_contents(dist: Path) -> None:
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        fail(f"expected one wheel and one sdist in {dist}, found {[p.name for p in wheels + sdists]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    stray = sorted(t for t in tops if t != PACKAGE and not t.endswith(".dist-info"))
    if stray:
        fail(f"the wheel carries more than the package: {stray}")
    if f"{PACKAGE}/cli.py" not in names or f"{PACKAGE}/sandbox/__init__.py" not in names:
        fail("the wheel lacks the server or the sandbox")
    if any("__pycache__" in n or n.endswith(".pyc") for n in names):
        fail("the wheel carries compiled files")
    # The MCP App pages and the shared parts they include at load time are package data, not code.
    ui = {f"{PACKAGE}/ui/{p.name}" for p in (ROOT / PACKAGE / "ui").glob("*.*") if p.suffix != ".py"}
    if missing := sorted(ui - set(names)):
        fail(f"the wheel lacks app pages or the parts they include: {missing}")
    print(f"ok   wheel {wheels[0].name}: {len(names)} files, only {PACKAGE}/ and its metadata")

    with tarfile.open(sdists[0]) as sdist:
        members = [m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name]
    tops = {m.split("/", 1)[0] for m in members}
    missing = sorted(SDIST_REQUIRED - tops)
    clutter = sorted(tops & SDIST_FORBIDDEN) + sorted(m for m in members if "__pycache__" in m)
    if missing or clutter:
        fail(f"the sdist lacks {missing} or carries {clutter[:10]}")
    if "tests/contract/venice-api-keys.openapi.yaml" not in members:
        fail("the sdist lacks the OpenAPI file its tests read")
    print(f"ok   sdist {sdists[0].name}: {len(members)} files, {sorted(tops)}")


async def _tools(command: list[str]) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="venice-keys-package-") as home:
        env = {
            "VENICE_KEYS_SECRETS_DIR": f"{home}/secrets",
            "VENICE_KEYS_AUDIT_LOG": f"{home}/audit.jsonl",
        }
        # uv's settings (cache, no Python downloads) pass through, as a host's env block would.
        env.update({k: v for k, v in os.environ.items() if k.startswith(("UV_", "SSL_CERT"))})
        params = StdioServerParameters(command=command[0], args=command[1:], env=env)
        with open(f"{home}/stderr", "w+") as errlog:  # shown only when the check fails
            try:
                with anyio.fail_after(START_TIMEOUT):
                    async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                        return [t.name for t in (await client.list_tools()).tools]
            except Exception:
                errlog.seek(0)
                print(errlog.read()[-4000:], file=sys.stderr)
                raise


def check_tools_list(command: list[str]) -> None:
    names = anyio.run(_tools, command)
    if names != TOOL_NAMES:
        fail(f"{' '.join(command)} listed {names}, manifest.json lists {TOOL_NAMES}")
    print(f"ok   {' '.join(command)}: tools/list answered with the {len(names)} tools")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="check", required=True)
    sub.add_parser("contents").add_argument("dist", type=Path)
    tools = sub.add_parser("tools-list")
    tools.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.check == "contents":
        check_contents(args.dist)
    else:
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        check_tools_list(command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
