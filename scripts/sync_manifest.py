"""Keep `manifest.json` in step with the live server: tools, version and Python range.

An MCP host shows the bundle manifest's tool list before it ever starts the server. If
that list drifts from what `tools/list` really returns, a person approves one set of
tools and gets another. So the generated fields are copied from the running code,
never typed by hand:

- `tools`: name and description of every tool the server lists (full, not read-only, mode);
- `version`: `venice_keys_mcp.__version__`;
- `compatibility.runtimes.python`: `requires-python` from `pyproject.toml`.

    python scripts/sync_manifest.py --check   # exit 1 and say what differs
    python scripts/sync_manifest.py --write   # rewrite those fields in place

`tests/ecosystem/test_manifest.py` runs the same comparison in the normal test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.json"
PYPROJECT = ROOT / "pyproject.toml"


async def _list_tools(toolsets: tuple[str, ...] | None = None) -> list[Any]:
    from mcp import Client

    from venice_keys_mcp.server import build_server
    from venice_keys_mcp.settings import Settings

    with tempfile.TemporaryDirectory(prefix="venice-keys-manifest-") as tmp:
        settings = Settings(
            sandbox=True,
            secrets_dir=Path(tmp) / "secrets",
            audit_log=Path(tmp) / "audit.jsonl",
            state_dir=Path(tmp) / "state",
            **({"toolsets": toolsets} if toolsets else {}),
        )
        server = build_server(settings)
        try:
            async with Client(server, mode="legacy") as client:
                tools = (await client.list_tools()).tools
        finally:
            await server.runtime.aclose()  # type: ignore[attr-defined]
    return list(tools)


def live_tool_objects(toolsets: tuple[str, ...] | None = None) -> list[Any]:
    """Every tool (`mcp_types.Tool`) a server lists, in order, from an in-memory server.

    By default the server as installed (the default toolsets: what the bundle offers);
    `toolsets` picks others, e.g. every one for the README's table.
    """
    import anyio

    return anyio.run(_list_tools, toolsets)


def live_tools() -> list[dict[str, str]]:
    """Name and description of every tool, in `tools/list` order."""
    return [{"name": t.name, "description": t.description or ""} for t in live_tool_objects()]


def expected_fields(tools: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The generated part of the manifest, as it must read now."""
    from venice_keys_mcp import __version__

    requires_python = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    return {
        "tools": live_tools() if tools is None else tools,
        "version": __version__,
        "python": requires_python,
    }


def differences(manifest: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """One line per field where the manifest disagrees with the code; empty when in step."""
    out: list[str] = []
    if manifest.get("version") != expected["version"]:
        out.append(f"version: manifest {manifest.get('version')!r}, package {expected['version']!r}")
    python = manifest.get("compatibility", {}).get("runtimes", {}).get("python")
    if python != expected["python"]:
        out.append(f"compatibility.runtimes.python: manifest {python!r}, pyproject {expected['python']!r}")
    listed = {t.get("name"): t.get("description") for t in manifest.get("tools", [])}
    live = {t["name"]: t["description"] for t in expected["tools"]}
    for name in sorted(set(live) - set(listed)):
        out.append(f"tools: {name} is served but missing from the manifest")
    for name in sorted(set(listed) - set(live)):
        out.append(f"tools: {name} is in the manifest but the server does not list it")
    for name in sorted(set(live) & set(listed)):
        if listed[name] != live[name]:
            out.append(
                f"tools: {name} description differs:\n"
                f"  manifest: {listed[name]!r}\n  live:     {live[name]!r}"
            )
    if not out and [t.get("name") for t in manifest.get("tools", [])] != list(live):
        out.append("tools: same tools, but not in tools/list order")
    return out


def synced(manifest: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """`manifest` with the generated fields replaced; every other field and key order kept."""
    result = dict(manifest)
    result["version"] = expected["version"]
    result["tools"] = [{"name": t["name"], "description": t["description"]} for t in expected["tools"]]
    compatibility = dict(result.get("compatibility", {}))
    compatibility["runtimes"] = {**compatibility.get("runtimes", {}), "python": expected["python"]}
    result["compatibility"] = compatibility
    return result


def render(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if manifest.json differs from the code")
    mode.add_argument("--write", action="store_true", help="rewrite the generated fields of manifest.json")
    args = parser.parse_args(argv)

    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    expected = expected_fields()
    problems = differences(manifest, expected)
    if args.write:
        MANIFEST.write_text(render(synced(manifest, expected)), encoding="utf-8")
        print(
            f"manifest.json: {len(expected['tools'])} tools, version {expected['version']}"
            + (f" ({len(problems)} field(s) updated)" if problems else " (already in step)")
        )
        return 0
    if problems:
        print("manifest.json is out of step with the server:", *problems, sep="\n", file=sys.stderr)
        print("Run: python scripts/sync_manifest.py --write", file=sys.stderr)
        return 1
    print(f"manifest.json is in step: {len(expected['tools'])} tools, version {expected['version']}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
