"""Keep `venice_keys_mcp/tools/published.py` in step with the tools' signatures.

The server lists its tools from that file instead of deriving nine JSON schemas with
pydantic at every start (see `venice_keys_mcp/tools/registration.py`). This script
derives them the SDK's way, from the code as it is now, and compares or rewrites:

    python scripts/sync_tool_schemas.py --check   # exit 1 and say which tools differ
    python scripts/sync_tool_schemas.py --write   # regenerate the file

`tests/server/test_published_schemas.py` runs the same comparison in the test suite. A
stale file is never served (its source hash no longer matches, so the server derives
the schemas itself), but it makes every start slower until regenerated.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "venice_keys_mcp" / "tools" / "published.py"


def expected_text() -> str:
    """What `published.py` must say for the code as it is now."""
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.server import collect_tools
    from venice_keys_mcp.settings import Settings
    from venice_keys_mcp.tools.registration import derive_schemas, render_published, source_hash

    with tempfile.TemporaryDirectory(prefix="venice-keys-schemas-") as tmp:
        files = Path(tmp)
        settings = Settings(sandbox=True, secrets_dir=files / "secrets", audit_log=files / "audit.jsonl")
        specs = collect_tools(settings, build_runtime(settings)).specs
    return render_published(derive_schemas(specs), source_hash())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if published.py differs from the code")
    mode.add_argument("--write", action="store_true", help="regenerate published.py")
    args = parser.parse_args(argv)

    want = expected_text()
    have = PUBLISHED.read_text(encoding="utf-8") if PUBLISHED.exists() else ""
    name = PUBLISHED.relative_to(ROOT)
    if args.write:
        PUBLISHED.write_text(want, encoding="utf-8")
        print(f"{name}: {'already in step' if want == have else 'regenerated'}")
        return 0
    if want != have:
        print(f"{name} is out of step with the tools' signatures.", file=sys.stderr)
        print("Run: python scripts/sync_tool_schemas.py --write", file=sys.stderr)
        return 1
    print(f"{name} is in step with the code")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
