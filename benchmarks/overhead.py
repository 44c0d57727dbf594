"""Per-call overhead: a tool call through the MCP server against the same request made directly.

Both sides hit the same loopback sandbox process. The server side is raw JSON-RPC over
the server's stdio (one line out, one line back, no SDK client), so the difference is
what the server adds: MCP framing and dispatch, argument validation, filtering,
rendering, result scrubbing, and its own pipe. The direct side is `VeniceClient` in this
process. Calls alternate between the two sides, and which goes first alternates too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from benchmarks.procs import (
    Sandbox,
    loopback_sandbox,
    minimal_command,
    sandbox_env,
    server_command,
    server_env,
)
from benchmarks.stats import summary
from benchmarks.stdio_rpc import RpcProcess, rpc_process

TARGET_ADDED_MS = 3.0
WARMUP = 20


def measure_overhead(calls: int, workdir: Path) -> dict[str, Any]:
    argv, described = server_command()
    with loopback_sandbox() as sandbox, rpc_process(argv, env=sandbox_env(sandbox, workdir)) as server:
        server.handshake()
        result = anyio.run(_compare, server, sandbox, calls)
    result["command"] = f"{described} -> loopback sandbox (default demo account)"
    result["client"] = "raw JSON-RPC over the server's stdio"
    result["sdk_floor_ms"] = _sdk_floor(calls, workdir)
    return result


def _sdk_floor(calls: int, workdir: Path) -> dict[str, Any]:
    """The baseline server's `echo` over the same kind of pipe: what any MCPServer tool call costs.

    Not part of the target; it tells how much of the added time is the SDK's stdio
    round trip (reader and writer threads, JSON-RPC, dispatch) rather than our work.
    """
    with rpc_process(minimal_command(), env=server_env(workdir)) as baseline:
        baseline.handshake()
        samples = []
        for i in range(WARMUP + calls):
            start = time.perf_counter()
            baseline.call_tool("echo", {"text": "hello"})
            if i >= WARMUP:
                samples.append((time.perf_counter() - start) * 1000)
    return summary(samples)


async def _timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Wall and CPU (this process) milliseconds of one call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    await fn()
    return (time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000


async def _compare(server: RpcProcess, sandbox: Sandbox, calls: int) -> dict[str, Any]:
    from venice_keys_mcp.venice import VeniceClient

    async with VeniceClient(sandbox.admin_key, sandbox.base_url) as direct:
        key_id = (await direct.list_keys())[-1].id

        async def server_get() -> Any:
            return server.call_tool("get_key", {"key_id": key_id})

        async def server_list() -> Any:
            return server.call_tool("list_keys", {})

        async def direct_get() -> Any:
            return await direct.get_key(key_id)

        ops = {"get_key": (server_get, direct_get), "list_keys": (server_list, direct.list_keys)}
        samples: dict[str, dict[str, list[float]]] = {op: {"server": [], "direct": []} for op in ops}
        # CPU per call, a steadier view on a busy machine: the server process's own (from
        # /proc, in clock ticks, so summed over all calls) and this process's for direct calls.
        cpu_ms: dict[str, dict[str, float]] = {op: {"server": 0.0, "direct": 0.0} for op in ops}
        for i in range(WARMUP + calls):
            for op, (via_server, via_client) in ops.items():
                pair = [("server", via_server), ("direct", via_client)]
                for side, fn in pair if i % 2 == 0 else reversed(pair):
                    before = server.cpu_seconds() if side == "server" else None
                    elapsed, own_cpu = await _timed(fn)
                    if i < WARMUP:
                        continue
                    samples[op][side].append(elapsed)
                    after = server.cpu_seconds() if side == "server" else None
                    if before is not None and after is not None:
                        cpu_ms[op]["server"] += (after - before) * 1000
                    elif side == "direct":
                        cpu_ms[op]["direct"] += own_cpu
    out: dict[str, Any] = {"calls_per_side": calls, "target_added_ms": TARGET_ADDED_MS, "ops": {}}
    for op, sides in samples.items():
        through, direct_ms = summary(sides["server"]), summary(sides["direct"])
        added = through["median"] - direct_ms["median"]
        out["ops"][op] = {
            "server_ms": through,
            "direct_ms": direct_ms,
            "added_median_ms": added,
            "added_p99_ms": through["p99"] - direct_ms["p99"],
            "cpu_ms_per_call": {side: total / calls for side, total in cpu_ms[op].items()},
            "met": added < TARGET_ADDED_MS,
        }
    return out
