"""Measure what hosts and agents pay for venice-keys-mcp, as ratios run side by side.

Sections: cold_start (spawn to tools/list, against a one-tool MCPServer), overhead
(get_key and list_keys through the server against VeniceClient directly), context
(bytes of tools/list and default answers on a 500-key account), memory (peak RSS after
1,000 calls, against the one-tool server) and scale (listing and bulk reads as the
account grows). Prints a table, writes every number as JSON (bench-results.json in the
current directory unless --json names another file), and exits 0 when every target is
met, 1 otherwise (2 when the JSON cannot be written).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.machine import describe_machine, load_average
from benchmarks.report import render

SECTIONS = ("cold_start", "overhead", "context", "memory", "scale")
#: (full, --quick) settings per section.
RUNS = {
    "cold_start": (21, 5),
    "overhead": (600, 100),
    "memory": (1000, 1000),
    "scale": (((50, 100, 250, 500), 25), ((50, 250, 500), 5)),  # three sizes at least: a line
}
DEFAULT_JSON = Path("bench-results.json")


def _sections(quick: bool, workdir: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    from benchmarks.cold_start import measure_cold_start
    from benchmarks.context import measure_context_cost
    from benchmarks.memory import measure_memory
    from benchmarks.overhead import measure_overhead
    from benchmarks.scale import TAIL_CALLS, measure_scale

    pick = 1 if quick else 0
    sizes, repeats = RUNS["scale"][pick]
    return {
        "cold_start": lambda: measure_cold_start(RUNS["cold_start"][pick], workdir / "cold"),
        "overhead": lambda: measure_overhead(RUNS["overhead"][pick], workdir / "overhead"),
        "context": lambda: measure_context_cost(workdir / "context"),
        "memory": lambda: measure_memory(RUNS["memory"][pick], workdir / "memory"),
        "scale": lambda: measure_scale(sizes, repeats, workdir / "scale", TAIL_CALLS[pick]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke test, not a result")
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        default=DEFAULT_JSON,
        help=f"where to write every number (default: {DEFAULT_JSON} in the current directory)",
    )
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": describe_machine(),
        "quick": args.quick,
        "load_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="venice-keys-bench-") as tmp:
        sections = _sections(args.quick, Path(tmp))
        for name in args.only or SECTIONS:
            print(f"running {name}...", file=sys.stderr, flush=True)
            results[name] = sections[name]()
    results["load_after"] = load_average()
    results["seconds"] = time.monotonic() - started
    results["all_met"] = all(_met(results[name]) for name in SECTIONS if name in results)
    print(render(results))
    try:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"\ncould not write {args.json}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"\nJSON: {args.json.resolve()}")
    return 0 if results["all_met"] else 1


def _met(section: dict[str, Any]) -> bool:
    if "ops" in section:
        return all(op["met"] for op in section["ops"].values())
    return bool(section.get("met", True))


if __name__ == "__main__":
    raise SystemExit(main())
