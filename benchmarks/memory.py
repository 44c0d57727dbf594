"""Memory: the server's peak resident set after 1,000 mixed calls, against the baseline's.

Peak, not current: Linux's `VmHWM` is the high-water mark the kernel keeps, so a
transient spike (500 keys parsed at once) counts even if it is freed before we look.
Our server runs as deployed: its own process, pointed at a loopback sandbox with a
500-key account, so the account's data lives in the sandbox's process, as it would at
Venice. The baseline answers 1,000 calls of its one tool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.procs import loopback_sandbox, minimal_command, sandbox_env, server_command, server_env
from benchmarks.stdio_rpc import RpcProcess, rpc_process

TARGET_RATIO = 1.3
ACCOUNT_KEYS = 500


def _mixed_calls(keys: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Ten calls an admin session makes: lists, filters, reads, limits, a rename, a token."""
    others = [k["id"] for k in keys if k["type"] == "INFERENCE"]
    return [
        ("list_keys", {}),
        ("get_key", {"key_id": others[0]}),
        ("list_keys", {"key_type": "INFERENCE", "no_cap": True}),
        ("get_limits", {}),
        ("get_key", {"key_id": others[1]}),
        ("get_breach_log", {}),
        ("list_keys", {"search": "load", "page": 2}),
        ("get_key", {"key_id": others[2]}),
        ("patch_key", {"key_id": others[3], "description": "renamed by the benchmark"}),
        ("get_spend", {}),  # web3 is opt-in (not a default toolset), so no get_web3_token here
    ]


def _run(proc: RpcProcess, calls: list[tuple[str, dict[str, Any]]], total: int) -> dict[str, int]:
    """`total` calls cycling through `calls`, on a process past its handshake and `tools/list`."""
    after_start = proc.peak_rss()
    for i in range(total):
        name, args = calls[i % len(calls)]
        proc.call_tool(name, args)
    return {"after_start": after_start, "peak": proc.peak_rss(), "calls": total}


def measure_memory(total: int, workdir: Path) -> dict[str, Any]:
    argv, described = server_command()
    with (
        loopback_sandbox(keys=ACCOUNT_KEYS) as sandbox,
        rpc_process(argv, env=sandbox_env(sandbox, workdir)) as server,
    ):
        server.handshake()
        server.request("tools/list")
        first_page = server.call_tool("list_keys", {"page_size": 50})["structuredContent"]["keys"]
        ours = _run(server, _mixed_calls(first_page), total)
    with rpc_process(minimal_command(), env=server_env(workdir)) as baseline:
        baseline.handshake()
        baseline.request("tools/list")
        base = _run(baseline, [("echo", {"text": "hello"})], total)
    ratio = ours["peak"] / base["peak"]
    return {
        "command": f"{described} -> loopback sandbox ({ACCOUNT_KEYS} keys)",
        "mix": [name for name, _ in _mixed_calls([{"id": str(i), "type": "INFERENCE"} for i in range(4)])],
        "ours_bytes": ours,
        "baseline_bytes": base,
        "ratio": ratio,
        "target": TARGET_RATIO,
        "met": ratio < TARGET_RATIO,
    }
