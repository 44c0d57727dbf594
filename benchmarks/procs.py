"""The processes a benchmark starts: our server, the baseline server, a loopback sandbox.

Everything runs with the interpreter running the benchmark (`sys.executable`), so both
sides of a ratio pay for the same Python and the same installed packages.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.sandbox_process import SandboxProcess as Sandbox
from tests.support.sandbox_process import running_sandbox

MINIMAL_SERVER = Path(__file__).with_name("minimal_server.py")
CONSOLE_SCRIPT = "venice-keys-mcp"
START_TIMEOUT = 30.0
#: Environment variables a measured server does not inherit (see `server_env`).
LEFT_OUT = ("VENICE_", "PYTHONPROFILE", "PYTHONDONTWRITEBYTECODE")


def server_command(*args: str) -> tuple[list[str], str]:
    """Our server as a host starts it: the installed console script, if it runs this interpreter.

    Returns the command and how it is described in the report. Falls back to
    `python -m venice_keys_mcp` when the script is missing or belongs to another Python.
    """
    script = Path(sys.executable).with_name(CONSOLE_SCRIPT)
    if _runs_this_python(script):
        return [str(script), *args], " ".join([CONSOLE_SCRIPT, *args]) + " (console script)"
    return [sys.executable, "-m", "venice_keys_mcp", *args], " ".join(["python -m venice_keys_mcp", *args])


def _runs_this_python(script: Path) -> bool:
    """Whether `script`'s shebang names this environment's interpreter (python, python3, ...)."""
    try:
        first = script.read_bytes()[:1024].split(b"\n", 1)[0]
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return False
    interpreter = Path(os.fsdecode(first[2:].strip().split()[0]))
    here = Path(sys.executable)
    return interpreter.parent == here.parent and interpreter.resolve() == here.resolve()


def minimal_command() -> list[str]:
    """The baseline one-tool `MCPServer`, run as a plain script."""
    return [sys.executable, str(MINIMAL_SERVER)]


def server_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment for a server under test: its files in `workdir`, never in the user's dirs.

    Every other `VENICE_*` variable of the calling shell is left out, so a developer's
    configuration (a real key, read-only mode, a log level) cannot change what is measured.
    So is `PYTHONDONTWRITEBYTECODE`: a host's server finds its bytecode cached (written at
    install, or by its first start), and with the variable set every start of an editable
    install compiled all of our modules again (about 30 ms) while the SDK's stayed cached.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEFT_OUT)}
    env.update(
        VENICE_KEYS_SECRETS_DIR=str(workdir / "secrets"),
        VENICE_KEYS_AUDIT_LOG=str(workdir / "audit.jsonl"),
    )
    env.update(extra)
    return env


def sandbox_env(sandbox: Sandbox, workdir: Path) -> dict[str, str]:
    """Environment pointing our server at `sandbox`."""
    return server_env(workdir, VENICE_BASE_URL=sandbox.base_url, VENICE_ADMIN_KEY=sandbox.admin_key)


@contextlib.contextmanager
def loopback_sandbox(keys: int | None = None) -> Iterator[Sandbox]:
    """`venice-keys-mcp sandbox --port 0 [--keys N]`, with its request budget lifted for load.

    The process is the suite's (tests/support/sandbox_process.py): started, read and stopped
    the same way, so a benchmark meets the sandbox the tests do.
    """
    with running_sandbox(*(() if keys is None else ("--keys", str(keys))), timeout=START_TIMEOUT) as sandbox:
        # The benchmark sends thousands of requests a minute from one key: not what is measured.
        sandbox.control("/_sandbox/limits", {"request_budget": 10**9})
        yield sandbox
