"""What the numbers were measured on: they mean little without it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import venice_keys_mcp

GIT_TIMEOUT = 10.0


def _first(path: str, key: str) -> str | None:
    try:
        with open(path) as f:
            for row in f:
                if row.startswith(key):
                    return row.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_revision() -> str | None:
    """The checkout's short commit, with "+dirty" when files differ from it; None outside git.

    Numbers from an uncommitted tree cannot be traced to code, so the table says so. Only
    a checkout (the package's parent holds `.git` and `pyproject.toml`) counts: an installed
    package inside some other repository (a venv in a checkout) is not that repository's code.
    """
    root = Path(venice_keys_mcp.__file__).resolve().parent.parent
    if not (root / ".git").exists() or not (root / "pyproject.toml").is_file():
        return None
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # `git status` must not write the index

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT,
            check=True, env=env,
        ).stdout.strip()  # fmt: skip

    try:
        head = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if changes else head or None


def describe_machine() -> dict[str, Any]:
    memory = _first("/proc/meminfo", "MemTotal")
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "memory_gib": round(int(memory.split()[0]) / 2**20, 1) if memory else None,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "mcp": metadata.version("mcp"),
        "pydantic": metadata.version("pydantic"),
        "venice_keys_mcp": metadata.version("venice-keys-mcp"),
        "git_revision": git_revision(),
    }
