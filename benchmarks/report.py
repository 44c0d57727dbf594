"""The benchmark's table: one row per target, then the scale of work, in plain text."""

from __future__ import annotations

from typing import Any


def _ok(met: bool) -> str:
    return "ok" if met else "MISSED"


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _row(cells: list[str]) -> str:
    widths = [40, 20, 20, 16, 11, 6]
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"venice-keys-mcp {m['venice_keys_mcp']} ({_revision(m)}) benchmark: {m['nproc']} CPUs "
        f"({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, mcp {m['mcp']}",
        f"load average before/after: {results['load_before']} / {results['load_after']}; "
        f"took {results['seconds']:.0f} s{' (--quick)' if results['quick'] else ''}",
        "",
        _row(["measure", "ours", "baseline/direct", "result", "target", ""]),
        _row(["-" * 40, "-" * 20, "-" * 20, "-" * 16, "-" * 11, "-" * 6]),
    ]
    if cold := results.get("cold_start"):
        o, b = cold["ours"], cold["baseline"]
        lines.append(
            _row(
                [
                    f"cold start to tools/list (median of {o['n']})",
                    f"{o['median']:.3f} s",
                    f"{b['median']:.3f} s",
                    f"ratio {cold['ratio']:.3f}",
                    f"<= {cold['target']}",
                    _ok(cold["met"]),
                ]
            )
        )
        if cold.get("cpu_ratio"):
            c = cold["cpu_seconds"]
            lines.append(
                _row(
                    [
                        "  (CPU time to tools/list, median)",
                        f"{c['ours']['median']:.3f} s",
                        f"{c['baseline']['median']:.3f} s",
                        f"ratio {cold['cpu_ratio']:.3f}",
                        f"<= {cold['target']}",
                        _ok(cold["cpu_ratio"] <= cold["target"]),
                    ]
                )
            )
        lines.append(
            _row(
                ["  (median of per-pair wall ratios)", "", "", f"{cold['paired_ratio_median']:.3f}", "-", ""]
            )
        )
    if over := results.get("overhead"):
        for op, r in over["ops"].items():
            s, d = r["server_ms"], r["direct_ms"]
            lines.append(
                _row(
                    [
                        f"{op} per call, median (p99)",
                        f"{s['median']:.2f} ({s['p99']:.1f}) ms",
                        f"{d['median']:.2f} ({d['p99']:.1f}) ms",
                        f"+{r['added_median_ms']:.2f} ms",
                        f"< {over['target_added_ms']:g} ms",
                        _ok(r["met"]),
                    ]
                )
            )
            cpu = r["cpu_ms_per_call"]
            lines.append(
                _row(
                    [
                        f"  ({op} CPU per call)",
                        f"{cpu['server']:.2f} ms",
                        f"{cpu['direct']:.2f} ms",
                        f"+{cpu['server'] - cpu['direct']:.2f} ms",
                        "-",
                        "",
                    ]
                )
            )
        floor = over["sdk_floor_ms"]
        lines.append(
            _row(
                [
                    "  (baseline echo tool, median (p99))",
                    f"{floor['median']:.2f} ({floor['p99']:.1f}) ms",
                    "",
                    "the SDK's share",
                    "-",
                    "",
                ]
            )
        )
    if ctx := results.get("context"):
        for name, size in ctx["default"].items():
            budget = ctx["budgets"][name]
            lines.append(
                _row(
                    [
                        f"context: {name} (default)",
                        f"{size:,} B",
                        "",
                        "",
                        f"<= {budget:,}",
                        _ok(size <= budget),
                    ]
                )
            )
        if "model_facing_per_tool" in ctx:
            per_tool, listed = ctx["model_facing_per_tool"], ctx["tools_listed"]
            what = "name + description + input schema"
            lines.append(f"  (model-facing: {what}, {per_tool} B per tool over {listed} tools)")
        in_memory = ", ".join(f"{n} {b:,}" for n, b in ctx["in_memory_default"].items())
        lines.append(f"  (in memory, as tests/test_budgets.py measures: {in_memory})")
        for name, size in ctx["asked_for_more"].items():
            note = "not shown to the model" if name.startswith("tools/list") else "asked for more"
            lines.append(_row([f"context: {name}", f"{size:,} B", "", note, "-", ""]))
    if mem := results.get("memory"):
        o, b = mem["ours_bytes"], mem["baseline_bytes"]
        lines.append(
            _row(
                [
                    f"peak RSS after {o['calls']:,} calls",
                    _mb(o["peak"]),
                    _mb(b["peak"]),
                    f"ratio {mem['ratio']:.3f}",
                    f"< {mem['target']}",
                    _ok(mem["met"]),
                ]
            )
        )
    if scale := results.get("scale"):
        if tail := scale.get("list_tail"):
            lines.append(
                _row(
                    [
                        f"scale: list_keys p99 / p50, {tail['account_keys']} keys",
                        f"{tail['p99']:.1f} / {tail['p50']:.1f} ms",
                        "",
                        f"ratio {tail['ratio']:.2f}",
                        f"<= {tail['factor']:g}",
                        _ok(tail["met"]),
                    ]
                )
            )
        for name, check in scale["linear"].items():
            lines.append(
                _row(
                    [
                        f"scale: {name}",
                        f"{check['to']:g} vs {check['from']:g}",
                        "",
                        f"ratio {check['ratio']:.2f}",
                        f"<= {scale['linear_factor']:g}",
                        _ok(check["met"]),
                    ]
                )
            )
        lines += ["", _scale(scale)]
    lines += ["", "Commands:"] + [f"  {k}: {v}" for k, v in _commands(results).items()]
    return "\n".join(lines)


def _revision(machine: dict[str, Any]) -> str:
    return f"git {machine['git_revision']}" if machine.get("git_revision") else "not a git checkout"


def _scale(scale: dict[str, Any]) -> str:
    head = f"{'keys':>5}  {'list ms':>8}  {'us/key':>7}  {'filter ms':>9}  {'us/key':>7}  "
    head += f"{'direct list ms':>14}  {'50 get_key ms':>13}  {'ms/key':>6}"
    out = ["scale of work (through the server; 'direct' is VeniceClient on the same sandbox)", head]
    for r in scale["rows"]:
        out.append(
            f"{r['keys']:>5}  {r['list_ms']:>8.2f}  {r['list_us_per_key']:>7.1f}  {r['filter_ms']:>9.2f}  "
            f"{r['filter_us_per_key']:>7.1f}  {r['direct_list_ms']:>14.2f}  {r['bulk_read_ms']:>13.1f}  "
            f"{r['bulk_ms_per_key']:>6.2f}"
        )
    sweep = scale["bulk_sweep"]
    reads = ", ".join(f"{n} keys {ms:.1f} ms" for n, ms in sweep["ms_by_keys_read"].items())
    out.append(f"bulk reads on the {sweep['account_keys']}-key account: {reads}")
    for name, fit in scale["fits"].items():
        unit = "key read" if name == "bulk_read_ms" else "key in the account"
        per = fit["per_unit"] * 1000
        out.append(f"fit {name}: {fit['fixed']:.2f} ms + {per:.1f} us per {unit} (r2 {fit['r2']:.3f})")
    return "\n".join(out)


def _commands(results: dict[str, Any]) -> dict[str, str]:
    out = {}
    for section in ("cold_start", "overhead", "context", "memory"):
        if section in results and "command" in results[section]:
            out[section] = results[section]["command"]
    if "cold_start" in results:
        out["baseline"] = results["cold_start"]["baseline_command"]
    if "overhead" in results:
        out["client"] = results["overhead"]["client"]
    return out
