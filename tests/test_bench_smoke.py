"""The benchmark cannot silently break: its context section runs and its JSON holds the budgets.

`python -m benchmarks` is not part of the suite (it times things, and needs a
quiet machine); this runs its one untimed section as a user would, from another
directory (with the clone on `PYTHONPATH`: the benchmark is a folder of the clone, not
part of the installed package) and without `--json`, so the default JSON file, the machine description and
the budget verdicts are all checked. Nothing here is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.context import ACCOUNT_KEYS, MODEL_FACING_PER_TOOL, budgets
from tests.support import tool_catalog

CLONE = Path(__file__).resolve().parents[1]
BENCH_TIMEOUT = 300  # a few seconds idle; generous for a shared machine


def test_quick_context_benchmark_writes_json_with_the_budgets_met(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "context"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(CLONE)},
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT,
    )
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    written = tmp_path / "bench-results.json"
    assert f"JSON: {written.resolve()}" in run.stdout
    results = json.loads(written.read_text(encoding="utf-8"))

    context = results["context"]
    listed = len(tool_catalog.listed_by_default())  # the stdio process lists the default tools
    assert context["tools_listed"] == listed
    assert context["budgets"] == budgets(listed)
    assert set(context["default"]) == set(context["budgets"])
    for name, size in context["default"].items():
        assert 0 < size <= context["budgets"][name], (name, size)
    assert 0 < context["model_facing_per_tool"] <= MODEL_FACING_PER_TOOL
    assert context["over_budget"] == {} and context["met"] is True
    assert context["in_memory_default"].keys() == context["default"].keys()
    assert f"--sandbox-keys {ACCOUNT_KEYS}" in context["command"]
    assert results["all_met"] is True and results["quick"] is True
    assert "git_revision" in results["machine"]  # a string in a checkout, None in an install
    assert "context: tools/list model-facing (default)" in run.stdout
    assert "name + description + input schema" in run.stdout
