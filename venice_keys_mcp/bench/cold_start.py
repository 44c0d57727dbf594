"""Cold start: spawn to the answer of `tools/list`, ours against a one-tool `MCPServer`.

This is what a host waits for at every session before the agent can see a tool. The
two servers are started alternately (ABBA...), so drift on a shared machine falls on
both sides alike; the first run of each is a discarded warm-up (bytecode, page cache).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from venice_keys_mcp.bench.procs import minimal_command, server_command, server_env
from venice_keys_mcp.bench.stats import summary
from venice_keys_mcp.bench.stdio_rpc import rpc_process

TARGET_RATIO = 1.15


def time_to_tools_list(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, float | None, int]:
    """Seconds from spawn to the `tools/list` answer (initialize, initialized, tools/list).

    Returns the wall time, the CPU time the server had used by then, and the tool count.
    """
    with rpc_process(argv, env=env) as proc:
        proc.handshake()
        tools = proc.request("tools/list")["tools"]
        elapsed = time.perf_counter() - proc.started
        cpu = proc.cpu_seconds()
    return elapsed, cpu, len(tools)


def measure_cold_start(runs: int, workdir: Path) -> dict[str, Any]:
    ours, described = server_command("--sandbox")
    sides = {"ours": ours, "baseline": minimal_command()}
    env = server_env(workdir)
    times: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    tool_counts: dict[str, int] = {}
    for argv in sides.values():  # warm-up, not counted
        time_to_tools_list(argv, env)
    for i in range(runs):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for name in order:
            elapsed, used, tool_counts[name] = time_to_tools_list(sides[name], env)
            times[name].append(elapsed)
            if used is not None:
                cpu[name].append(used)
    ratio = statistics.median(times["ours"]) / statistics.median(times["baseline"])
    pairs = [o / b for o, b in zip(times["ours"], times["baseline"], strict=True)]
    return {
        "command": described,
        "baseline_command": "python venice_keys_mcp/bench/minimal_server.py (one tool)",
        "tools": tool_counts,
        "ours": summary(times["ours"]),
        "baseline": summary(times["baseline"]),
        "ratio": ratio,
        "paired_ratio_median": statistics.median(pairs),
        "cpu_ratio": statistics.median(cpu["ours"]) / statistics.median(cpu["baseline"])
        if cpu["ours"]
        else None,
        "cpu_seconds": {name: summary(values) for name, values in cpu.items() if values},
        "target": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
    }
