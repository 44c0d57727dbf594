"""What the numbers were measured on: they mean little without it."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any


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
    }
