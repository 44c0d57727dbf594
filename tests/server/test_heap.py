"""The server (and the loopback sandbox) freezes what start-up built: full collections skip it.

A 500-key `list_keys` allocates enough to set off a full collection every ten calls or
so; before the fix each one walked every module, schema and model start-up had made,
and those pauses were most of the p99 (figures in docs/benchmarks.md, from the
benchmark's scale section). Timing pauses here would assert wall-clock time, so this
checks the cause instead, in the real process: a `sitecustomize` on its `PYTHONPATH`
records, as the process ends, how many objects are frozen.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from support.sandbox_process import running_sandbox
from support.server_process import server_env, stdio_params

pytestmark = pytest.mark.anyio

PROBE = """
import atexit, gc, json
def _dump():
    with open({out!r}, "w") as f:
        json.dump({{"frozen": gc.get_freeze_count()}}, f)
atexit.register(_dump)
"""


def probe(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with the probing `sitecustomize`, and the report it will write."""
    probe_dir, report = tmp_path / "probe", tmp_path / "gc.json"
    probe_dir.mkdir()
    (probe_dir / "sitecustomize.py").write_text(PROBE.format(out=str(report)), encoding="utf-8")
    return probe_dir, report


async def test_start_up_objects_are_frozen_before_the_first_call(tmp_path: Path) -> None:
    probe_dir, report = probe(tmp_path)
    env = server_env(tmp_path, PYTHONPATH=str(probe_dir), VENICE_KEYS_LOG_LEVEL="WARNING")
    with open(tmp_path / "stderr.txt", "w") as errlog:
        transport = stdio_client(stdio_params("--sandbox", env=env), errlog=errlog)  # type: ignore[arg-type]
        async with Client(transport) as c:
            for _ in range(3):
                listed = await c.call_tool("list_keys", {})
                assert not listed.is_error
    found = json.loads(report.read_text())
    # Start-up's modules, schemas and models: tens of thousands of objects (0 before the fix).
    assert found["frozen"] > 10_000


def test_the_loopback_sandbox_freezes_its_seeded_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox answers the benchmark's listings; its own full collections showed in the tail too."""
    import httpx2

    probe_dir, report = probe(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(probe_dir))
    with running_sandbox("--port", "0", "--keys", "500") as sandbox:
        headers = {"Authorization": f"Bearer {sandbox.admin_key}"}
        listed = httpx2.get(f"{sandbox.base_url}/api_keys", headers=headers, timeout=30)
        assert listed.status_code == 200 and len(listed.json()["data"]) == 500
    assert json.loads(report.read_text())["frozen"] > 10_000
