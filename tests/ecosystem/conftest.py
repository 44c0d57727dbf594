"""Fixtures for checking what users meet first: the README, its commands, the bundle manifest.

The README's commands name `.venv/bin/venice-keys-mcp` and `/path/to/venice-keys-mcp`;
here both become the console script installed next to the running interpreter, so the
tests run the very program a newcomer would, in whichever venv runs the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mcp import Client

from tests.support.scripts import load_script
from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MANIFEST = REPO / "manifest.json"
CI_RUN = REPO / ".ci" / "run"
BIN = Path(sys.executable).parent
SERVER_EXE = BIN / "venice-keys-mcp"
RUN_TIMEOUT = 30.0


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The runner's environment minus any VENICE_* variable, with the server's files under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENICE")}
    env.update(
        VENICE_KEYS_SECRETS_DIR=str(tmp_path / "secrets"),
        VENICE_KEYS_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run(
    argv: list[str], env: dict[str, str], timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )


def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


async def live_tools(
    tmp_path: Path, mode: str = "legacy", toolsets: tuple[str, ...] | None = None
) -> list[Any]:
    """`tools/list` of the server as installed (default toolsets), built in memory on the sandbox."""
    server = build_server(
        Settings(
            sandbox=True,
            secrets_dir=tmp_path / "secrets",
            audit_log=tmp_path / "audit.jsonl",
            state_dir=tmp_path / "state",
            **({"toolsets": toolsets} if toolsets else {}),
        )
    )
    try:
        async with Client(server, mode=mode) as client:
            return list((await client.list_tools()).tools)
    finally:
        await server.runtime.aclose()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def sync_manifest() -> ModuleType:
    return load_script("sync_manifest")


@pytest.fixture(scope="module")
def sync_readme() -> ModuleType:
    return load_script("sync_readme")


@pytest.fixture(scope="module")
def readme_text() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def loopback_sandbox() -> Iterator[Any]:
    """`venice-keys-mcp sandbox --port 0`, the README's sandbox command, as a real process."""
    import support.sandbox_process as sandbox_process

    with pytest.MonkeyPatch.context() as patch:  # only while starting: other modules get the default
        patch.setattr(
            sandbox_process, "sandbox_command", lambda *a: [str(SERVER_EXE), "sandbox", "--port", "0", *a]
        )
        running = sandbox_process.running_sandbox()
        sandbox = running.__enter__()
    try:
        yield sandbox
    finally:
        running.__exit__(None, None, None)
