"""Cold start: spawn to the answer of `tools/list`, ours against a one-tool `MCPServer`.

This is what a host waits for at every session before the agent can see a tool. Each
run starts the two servers at the same moment, one thread each (as a host starts the
servers it is configured with), which spawn first alternating: this machine's speed
drifts by a fifth from one second to the next, and started one after the other (ABBA)
the two medians could fall on different sides of a drift (ratios of 1.03 and 1.17 in two
runs of the same code). Side by side, both feel the same moment; a run of our server
against itself measured 0.98. But once the baseline is done, ours may have a CPU to itself
on a busy machine, which flatters its wall time, so the target holds only if the ratio of
CPU time to `tools/list` (which does not grow while waiting for a CPU) meets it too. The
first run of each is a discarded warm-up (bytecode, page cache).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.procs import minimal_command, server_command, server_env
from benchmarks.stats import summary
from benchmarks.stdio_rpc import rpc_process

#: Since issue 14 the SDK derives every tool's schemas at start-up (no stored copy, no
#: private rebuild of its tool construction), which the target allows for (was 1.15).
TARGET_RATIO = 1.25


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


def _side_by_side(
    sides: Mapping[str, Sequence[str]], order: Sequence[str], env: Mapping[str, str]
) -> dict[str, tuple[float, float | None, int]]:
    """One run of each server, started together (in `order`); a failure on either side is raised."""
    results: dict[str, tuple[float, float | None, int]] = {}
    failures: list[BaseException] = []

    def run(name: str) -> None:
        try:
            results[name] = time_to_tools_list(sides[name], env)
        except BaseException as exc:  # raised below, in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(name,), name=f"cold-start-{name}") for name in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


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
        for name, (elapsed, used, tool_counts[name]) in _side_by_side(sides, order, env).items():
            times[name].append(elapsed)
            if used is not None:
                cpu[name].append(used)
    ratio = statistics.median(times["ours"]) / statistics.median(times["baseline"])
    pairs = [o / b for o, b in zip(times["ours"], times["baseline"], strict=True)]
    cpu_ratio = statistics.median(cpu["ours"]) / statistics.median(cpu["baseline"]) if cpu["ours"] else None
    return {
        "command": described,
        "baseline_command": "python benchmarks/minimal_server.py (one tool)",
        "tools": tool_counts,
        "ours": summary(times["ours"]),
        "baseline": summary(times["baseline"]),
        "ratio": ratio,
        "paired_ratio_median": statistics.median(pairs),
        "cpu_ratio": cpu_ratio,
        "cpu_seconds": {name: summary(values) for name, values in cpu.items() if values},
        "target": TARGET_RATIO,
        # Both: started together on a busy machine, ours could have a CPU to itself once the
        # baseline is done, which flatters the wall ratio; CPU time does not wait for a CPU.
        "met": ratio <= TARGET_RATIO and (cpu_ratio is None or cpu_ratio <= TARGET_RATIO),
    }
