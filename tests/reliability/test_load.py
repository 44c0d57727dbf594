"""Load over HTTP and a soak over stdio, against the real server process: no failures, no leaks.

Load: 20 concurrent SDK clients (half on each protocol era) make 3,000 mixed calls in three
waves of 1,000, including 18 create-then-revoke pairs confirmed by elicitation (at most 20,
because Venice allows 20 creations a minute). Soak: one stdio client makes 1,000 calls.
The server process's memory, file descriptors and TCP connections are sampled with
psutil: descriptors and connections must be back near the baseline after each wave and
must not grow from one wave to the next, and memory must settle: the third wave may grow
RSS by much less than the first did (a leak grows it by the same amount every wave).
Figures are printed (`pytest -s`) and written to `serving.FIGURES`; docs/reliability.md
quotes a run. Both are marked `slow`: run them with `pytest -m slow` (`.ci/run` does).
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from tests.reliability.rig import text
from tests.reliability.serving import (
    HttpServer,
    Usage,
    http_server,
    percentile,
    record_figures,
    server_env,
    usage_dict,
)

#: Minutes of work on a 2-core machine: not in the README's test command; `.ci/run` runs them.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CLIENTS = 20
WAVES = 3
CALLS_PER_CLIENT_PER_WAVE = 50  # 20 x 50 x 3 waves = 3,000 calls
WRITERS_PER_WAVE = 6  # each makes one create + one revoke: 18 creations in all, under 20 a minute
SOAK_CALLS = 1_000
FD_SLACK = 8  # descriptors the server may legitimately still hold (log files, a pooled socket)
CONN_SLACK = 2
WAVE_FD_GROWTH = 3  # after wave N+1 over after wave N: a pooled socket or two may come or go
# Memory settles: the last wave's growth is at most half the first wave's (which pays the
# working set), or this floor, which is allocator noise (arenas, fragmentation), not a leak.
SETTLED_FRACTION = 0.5
RSS_NOISE_MB = 4.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    created: int = 0
    revoked: int = 0


async def timed(c: Client, tally: Tally, tool: str, args: dict[str, Any]) -> Any:
    started = time.perf_counter()
    try:
        r = await c.call_tool(tool, args)
    except Exception as exc:  # a protocol or transport failure is a failure, not a crash of the test
        tally.failures.append(f"{tool}: {type(exc).__name__}: {exc}")
        return None
    tally.latencies.append(time.perf_counter() - started)
    if r.is_error:
        tally.failures.append(f"{tool}: {text(r)[:200]}")
    return r


async def one_client(server: HttpServer, mode: str, calls: int, writer: bool, tally: Tally) -> None:
    """A session of mixed reads; a writer also creates a key and revokes it, typing its last six."""
    last6: dict[str, str] = {}

    async def elicit(ctx: Any, params: Any) -> ElicitResult:
        if "last6" in (params.requested_schema or {}).get("properties", {}):
            return ElicitResult(action="accept", content={"last6": last6["key"]})
        return ElicitResult(action="accept", content={"approve": True})

    # The SDK's own client timeouts (30 s, 300 s for a stream), with the token the server requires.
    http = httpx2.AsyncClient(headers=server.auth, timeout=httpx2.Timeout(30, read=300))
    transport = streamable_http_client(server.url, http_client=http)
    async with http, Client(transport, mode=mode, elicitation_callback=elicit) as c:
        listed = await timed(c, tally, "list_keys", {"page_size": 100})
        # Not the keys other writers are about to revoke: reading those would race their revoke.
        keys = listed.structured_content["keys"] if listed else []
        ids = [k["id"] for k in keys if not k["description"].startswith("load ")] or ["missing"]
        made = 1
        if writer:
            created = await timed(c, tally, "create_key", {"description": f"load {mode}"})
            if created and created.structured_content.get("status") == "created":
                tally.created += 1
                last6["key"] = created.structured_content["last6"]
                revoked = await timed(c, tally, "revoke_key", {"key_id": created.structured_content["id"]})
                if revoked and revoked.structured_content.get("status") == "revoked":
                    tally.revoked += 1
            made += 2
        for j in range(calls - made):
            tool, args = [
                ("list_keys", {}),
                ("get_key", {"key_id": ids[j % len(ids)]}),
                ("get_limits", {"limit": 5}),
                ("get_breach_log", {}),
                ("list_keys", {"never_used": True}),
            ][j % 5]
            await timed(c, tally, tool, args)


async def wave(server: HttpServer, tally: Tally) -> float:
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(CLIENTS):
            mode = "legacy" if i % 2 else "2026-07-28"
            tg.start_soon(one_client, server, mode, CALLS_PER_CLIENT_PER_WAVE, i < WRITERS_PER_WAVE, tally)
    return time.perf_counter() - started


async def sample_peak(pid: int, peak: dict[str, float], stop: anyio.Event) -> None:
    while not stop.is_set():
        u = Usage.of(pid)
        peak["rss_mb"] = max(peak.get("rss_mb", 0.0), u.rss_mb)
        peak["fds"] = max(peak.get("fds", 0), u.fds)
        peak["connections"] = max(peak.get("connections", 0), u.connections)
        with anyio.move_on_after(0.25):
            await stop.wait()


async def settled(pid: int, baseline: Usage) -> Usage:
    """The usage once closed sessions are cleaned up.

    Connections close asynchronously, so this waits (boundedly) for the descriptors to come
    back to within WAVE_FD_GROWTH of the baseline; a leak never does, and the caller's
    assertions then see it.
    """
    u = Usage.of(pid)
    for _ in range(40):
        if u.fds <= baseline.fds + WAVE_FD_GROWTH and u.connections <= baseline.connections + CONN_SLACK:
            break
        await anyio.sleep(0.25)
        u = Usage.of(pid)
    return u


@pytest.mark.timeout(400)  # ~30 s on an idle 2-core machine; far longer when it is shared
async def test_http_load_20_clients_3000_calls_no_failures_no_leaks(tmp_path: Path) -> None:
    with http_server(tmp_path) as server:
        pid = server.process.pid
        warm = Tally()
        await one_client(server, "legacy", 10, False, warm)  # imports and first-use costs paid
        await one_client(server, "2026-07-28", 10, False, warm)
        assert not warm.failures, warm.failures
        baseline = await settled(pid, Usage.of(pid))

        tally, peak, stop = Tally(), {}, anyio.Event()
        walls: list[float] = []
        after: list[Usage] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample_peak, pid, peak, stop)
            for _ in range(WAVES):
                walls.append(await wave(server, tally))
                after.append(await settled(pid, baseline))
            stop.set()

    calls = len(tally.latencies)
    wall = sum(walls)
    growth = [round(b.rss_mb - a.rss_mb, 1) for a, b in itertools.pairwise([baseline, *after])]
    figures = {
        "clients": CLIENTS,
        "calls": calls,
        "failures": len(tally.failures),
        "created_and_revoked": [tally.created, tally.revoked],
        "wall_s": round(wall, 2),
        "throughput_per_s": round(calls / wall, 1),
        "latency_ms": {
            "p50": round(percentile(tally.latencies, 0.50) * 1000, 1),
            "p99": round(percentile(tally.latencies, 0.99) * 1000, 1),
            "max": round(max(tally.latencies) * 1000, 1),
        },
        "wave_wall_s": [round(w, 2) for w in walls],
        "server": {
            "baseline": usage_dict(baseline),
            "peak": peak,
            **{f"after_wave_{i}": usage_dict(u) for i, u in enumerate(after, 1)},
            "rss_growth_mb_by_wave": growth,
        },
        "cpus": psutil.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the timings
    }
    record_figures("http_load", figures)
    assert tally.failures == [], tally.failures[:5]
    assert calls == CLIENTS * CALLS_PER_CLIENT_PER_WAVE * WAVES
    assert tally.created == tally.revoked == WAVES * WRITERS_PER_WAVE
    for u in after:  # every session's socket and descriptors were released
        assert u.fds <= baseline.fds + FD_SLACK, figures
        assert u.connections <= baseline.connections + CONN_SLACK, figures
    for earlier, later in itertools.pairwise(after):  # and nothing accumulates
        assert later.fds <= earlier.fds + WAVE_FD_GROWTH, figures
        assert later.connections <= earlier.connections + WAVE_FD_GROWTH, figures
    assert growth[-1] <= max(SETTLED_FRACTION * growth[0], RSS_NOISE_MB), figures


@pytest.mark.timeout(180)
async def test_stdio_soak_1000_calls_memory_and_descriptors_stable(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "venice_keys_mcp", "--sandbox", "--log-level", "WARNING"],
        env=server_env(tmp_path),
    )
    tally = Tally()
    samples: dict[int, Usage] = {}
    last6: dict[str, str] = {}

    async def elicit(ctx: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"last6": last6["key"]})

    peak: dict[str, float] = {}
    stop = anyio.Event()
    started = time.perf_counter()
    async with (
        Client(params, mode="legacy", elicitation_callback=elicit) as c,
        anyio.create_task_group() as tg,
    ):
        pid = next(
            p.pid
            for p in psutil.Process().children(recursive=True)
            if "venice_keys_mcp" in " ".join(p.cmdline()) and "--sandbox" in p.cmdline()
        )
        tg.start_soon(sample_peak, pid, peak, stop)
        ids = [k["id"] for k in (await timed(c, tally, "list_keys", {})).structured_content["keys"]]
        j = 0
        while len(tally.latencies) < SOAK_CALLS:
            j += 1
            if j % 100 == 50:  # ten create + revoke pairs over the run
                created = await timed(c, tally, "create_key", {"description": f"soak {j}"})
                last6["key"] = created.structured_content["last6"]
                await timed(c, tally, "revoke_key", {"key_id": created.structured_content["id"]})
            else:
                tool, args = [
                    ("list_keys", {}),
                    ("get_key", {"key_id": ids[j % len(ids)]}),
                    ("get_limits", {}),
                    ("get_breach_log", {"limit": 3}),
                ][j % 4]
                await timed(c, tally, tool, args)
            done = len(tally.latencies)
            for mark in (100, 500, SOAK_CALLS):
                if done >= mark and mark not in samples:
                    samples[mark] = Usage.of(pid)
        stop.set()
    wall = time.perf_counter() - started

    first, middle, last = samples[100], samples[500], samples[SOAK_CALLS]
    figures = {
        "calls": len(tally.latencies),
        "failures": len(tally.failures),
        "wall_s": round(wall, 2),
        "throughput_per_s": round(len(tally.latencies) / wall, 1),
        "latency_ms": {
            "p50": round(percentile(tally.latencies, 0.50) * 1000, 1),
            "p99": round(percentile(tally.latencies, 0.99) * 1000, 1),
        },
        "server": {
            "at_100": usage_dict(first),
            "at_500": usage_dict(middle),
            "at_end": usage_dict(last),
            "peak": peak,
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    record_figures("stdio_soak", figures)
    assert tally.failures == [], tally.failures[:5]
    assert last.fds <= first.fds + 3, figures
    assert last.rss_mb - middle.rss_mb < 15.0, figures
