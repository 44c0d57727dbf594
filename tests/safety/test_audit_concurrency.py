"""Two processes appending to one audit log keep whole lines and one valid chain."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from venice_keys_mcp.safety.audit import AuditLog, verify

PER_PROCESS = 200


def _append_many(path: str, name: str, start, count: int) -> None:
    log = AuditLog(Path(path))
    start.wait()
    for i in range(count):
        log.append(tool="patch_key", key_id=f"{name}-{i}", args={"i": i}, confirmation="token", outcome="ok")


def test_two_processes_appending_concurrently_keep_a_valid_chain(tmp_path):
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    path = tmp_path / "audit.jsonl"
    start = ctx.Event()
    procs = [ctx.Process(target=_append_many, args=(str(path), name, start, PER_PROCESS)) for name in "ab"]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    report = verify(path)
    assert report.ok, report.reason
    assert report.entries == 2 * PER_PROCESS
    entries = AuditLog(path).recent(2 * PER_PROCESS)
    assert [e.seq for e in entries] == list(range(1, 2 * PER_PROCESS + 1))
    owners = {e.key_id.split("-")[0] for e in entries if e.key_id}
    assert owners == {"a", "b"}
