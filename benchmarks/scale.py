"""Scale of work: how a call's cost grows with the account, and a bulk read with its size.

For each account size, one loopback sandbox and one server: the default `list_keys`
page, a filtered listing (every key is examined, few survive), and a bulk read of 50
keys (50 `get_key` calls, one after another), whose cost per key should not depend on
the account's size. A direct `VeniceClient` listing of the same account runs beside
them, so the growth that is the server's own can be told apart from the sandbox's. On
the largest account, bulk reads of 10, 25 and 50 keys show growth with the read's size.
A least-squares line through the points says what one more key costs (r² near 1: a
straight line). On the largest account, `TAIL_CALLS` default `list_keys` calls in a row
give its p50 and p99: a pause (a full garbage collection, say) that hits one call in ten
shows in the p99 and not in any median.

Pass/fail ("at most linear"): for each measure, the cost per unit (per key in the
account, per key read) at the largest size may be at most LINEAR_FACTOR times the cost
per unit at the smallest. Linear growth with a fixed part makes that ratio 1 or less;
quadratic growth over a 10x range makes it near 10. A ratio of two medians holds up on a
noisy machine far better than r², which a flat (fixed-cost dominated) series or one
slow point can sink however linear the code is. The tail: p99 at most `TAIL_FACTOR`
times p50 for `list_keys` on the largest account.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from benchmarks.procs import Sandbox, loopback_sandbox, sandbox_env, server_command
from benchmarks.stats import linear_fit, percentile
from benchmarks.stdio_rpc import RpcProcess, rpc_process

SIZES = (50, 100, 250, 500)
BULK = 50
BULK_SWEEP = (10, 25, 50)
FILTER = {"key_type": "INFERENCE", "search": "key #4", "no_cap": True}
LINEAR_FACTOR = 2.5
#: `list_keys` calls timed one by one on the largest account, for its p50 and p99 (full, --quick).
TAIL_CALLS = (400, 100)
TAIL_FACTOR = 2.0


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    return statistics.median(_samples_ms(fn, repeats))


def _direct_list_ms(sandbox: Sandbox, repeats: int) -> float:
    async def run() -> float:
        from venice_keys_mcp.venice import VeniceClient

        async with VeniceClient(sandbox.admin_key, sandbox.base_url) as client:
            await client.list_keys()
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                await client.list_keys()
                samples.append((time.perf_counter() - start) * 1000)
            return statistics.median(samples)

    return anyio.run(run)


def _samples_ms(fn: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _one_size(
    size: int, repeats: int, workdir: Path, sweep: tuple[int, ...] = (), tail_calls: int = 0
) -> dict[str, Any]:
    argv, _ = server_command()
    with (
        loopback_sandbox(keys=size) as sandbox,
        rpc_process(argv, env=sandbox_env(sandbox, workdir)) as server,
    ):
        server.handshake()
        page = server.call_tool("list_keys", {"page_size": BULK})["structuredContent"]
        ids = [k["id"] for k in page["keys"]]
        for key_id in ids[:5]:  # warm-up: first calls build models and connections
            server.call_tool("list_keys", FILTER)
            server.call_tool("list_keys", {})
            server.call_tool("get_key", {"key_id": key_id})

        def bulk_read(count: int = len(ids), proc: RpcProcess = server) -> None:
            for key_id in ids[:count]:
                proc.call_tool("get_key", {"key_id": key_id})

        bulk_repeats = max(3, repeats // 4)  # a bulk read is 50 calls: fewer repeats suffice
        row = {
            "keys": page["total"],
            "list_ms": _median_ms(lambda: server.call_tool("list_keys", {}), repeats),
            "filter_ms": _median_ms(lambda: server.call_tool("list_keys", FILTER), repeats),
            "bulk_read_ms": _median_ms(bulk_read, bulk_repeats),
            "bulk_keys": len(ids),
            "direct_list_ms": _direct_list_ms(sandbox, repeats),
            "bulk_sweep_ms": {n: _median_ms(lambda n=n: bulk_read(n), bulk_repeats) for n in sweep},
        }
        if tail_calls:
            tail = _samples_ms(lambda: server.call_tool("list_keys", {}), tail_calls)
            row["list_tail"] = {"calls": tail_calls, "p50": percentile(tail, 50), "p99": percentile(tail, 99)}
    row["list_us_per_key"] = 1000 * row["list_ms"] / row["keys"]
    row["filter_us_per_key"] = 1000 * row["filter_ms"] / row["keys"]
    row["bulk_ms_per_key"] = row["bulk_read_ms"] / row["bulk_keys"]
    return row


def measure_scale(
    sizes: tuple[int, ...], repeats: int, workdir: Path, tail_calls: int = TAIL_CALLS[0]
) -> dict[str, Any]:
    sizes = tuple(sorted(sizes))
    rows = [
        _one_size(size, repeats, workdir, *((BULK_SWEEP, tail_calls) if size == sizes[-1] else ()))
        for size in sizes
    ]
    tail = rows[-1].pop("list_tail")
    sweep: dict[int, float] = {}
    for r in rows:
        sweep.update(r.pop("bulk_sweep_ms"))
    xs = [float(r["keys"]) for r in rows]
    fits = {
        name: linear_fit(xs, [r[name] for r in rows]) for name in ("list_ms", "filter_ms", "direct_list_ms")
    }
    fits["bulk_read_ms"] = linear_fit([float(n) for n in sweep], list(sweep.values()))
    first, last = rows[0], rows[-1]
    reads = sorted(sweep)
    checks = {
        "list_keys, cost per key": _check(
            first["keys"], last["keys"], first["list_us_per_key"], last["list_us_per_key"]
        ),
        "filtered list_keys, cost per key": _check(
            first["keys"], last["keys"], first["filter_us_per_key"], last["filter_us_per_key"]
        ),
        "bulk read per key, by account size": _check(
            first["keys"], last["keys"], first["bulk_ms_per_key"], last["bulk_ms_per_key"]
        ),
        "bulk read per key, by keys read": _check(
            reads[0], reads[-1], sweep[reads[0]] / reads[0], sweep[reads[-1]] / reads[-1]
        ),
    }
    tail_ratio = tail["p99"] / tail["p50"]
    return {
        "list_tail": {
            "account_keys": rows[-1]["keys"],
            **tail,
            "ratio": tail_ratio,
            "factor": TAIL_FACTOR,
            "met": tail_ratio <= TAIL_FACTOR,
        },
        "filter": FILTER,
        "bulk_keys": BULK,
        "rows": rows,
        "bulk_sweep": {"account_keys": rows[-1]["keys"], "ms_by_keys_read": sweep},
        "fits": fits,
        "linear_factor": LINEAR_FACTOR,
        "linear": checks,
        "met": len(rows) >= 3 and all(c["met"] for c in checks.values()) and tail_ratio <= TAIL_FACTOR,
    }


def _check(small: float, large: float, per_unit_small: float, per_unit_large: float) -> dict[str, Any]:
    """Cost per unit at the largest size against the smallest: at most LINEAR_FACTOR times."""
    ratio = per_unit_large / per_unit_small
    return {"from": small, "to": large, "ratio": ratio, "met": ratio <= LINEAR_FACTOR}
