"""Generate the README's settings table and tools table from the code, so they cannot drift.

The settings table comes from `venice_keys_mcp.settings.ENV_VARS`, the `Settings` model's
defaults and the CLI's serve flags; the tools table from the live `tools/list`. Each
table sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers.

    python scripts/sync_readme.py --check   # exit 1 and say which table is stale
    python scripts/sync_readme.py --write   # rewrite both tables in README.md

A setting added to the code without a line in `MEANING` below fails `--check` (and the
test suite), so a new knob cannot ship undocumented.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: What each setting does, for a person deciding whether to change it.
MEANING: dict[str, str] = {
    "base_url": "Venice API base URL. Point it at `venice-keys-mcp sandbox` to use the loopback sandbox.",
    "admin_key": "The ADMIN API key the server acts with (`VENICE_API_KEY` is read when "
    "`VENICE_ADMIN_KEY` is unset). Never shown in results, logs or the audit log.",
    "sandbox": "Use the embedded sandbox: a seeded demo account, no network, no real keys.",
    "sandbox_keys": "Pad the sandbox's demo account to N keys (at most 500).",
    "transport": "`stdio` (hosts start the server) or `http` (Streamable HTTP at `/mcp`).",
    "host": "HTTP bind address. Anything but loopback requires `VENICE_KEYS_HTTP_TOKEN`.",
    "port": "HTTP port.",
    "http_token": "Bearer token that HTTP clients must send; required when binding beyond loopback. Unset, "
    "the server makes one and keeps it in a 0600 file in its state folder (reused at restarts).",
    "no_auth": "HTTP without a bearer token, on loopback only (refused with any other `--host`): "
    "anyone on this machine can then call every tool.",
    "http_max_sessions": "Most HTTP sessions open at once; one more gets `503` until one ends or idles out.",
    "http_session_idle": "Seconds an HTTP session may sit with no request in flight before it is ended.",
    "allowed_hosts": "Comma-separated `Host` values accepted over HTTP (DNS-rebinding protection).",
    "allowed_origins": "Comma-separated `Origin` values accepted over HTTP.",
    "confirm": "Who says yes to risky actions. `auto`: the person, through a form, else the approval "
    "card (MCP Apps), else the terminal (`venice-keys-mcp approve`); `elicit`: forms only, refuse "
    "otherwise; `agent`: forms, else a one-time token the agent relays (weaker: the agent carries the "
    "yes); `off`: never ask (unattended automation only).",
    "toolsets": "Which groups of tools to offer: `all`, or a comma-separated list of `keys`, `workflows` "
    "(rotate_key, revoke_keys and the reports), `spend`, `limits`, `web3` (minting with a wallet).",
    "read_only": "`1`: offer only the read-only tools; nothing can be created, changed or revoked.",
    "allow_admin_keys": "`1`: let the agent create ADMIN keys (each one still confirmed by a person).",
    "max_usd": "Highest USD cap the agent may give a key, per the key's own limit period (EPOCH: per "
    "UTC day; MONTH: per month; LIFETIME: in total), compared as is whatever the period. A finite "
    "number from 0 to 9999999999.",
    "max_diem": "Highest DIEM cap the agent may give a key, read the same way as `VENICE_KEYS_MAX_USD`.",
    "max_expiry_days": "Longest expiry, in days from now, the agent may give a key.",
    "secrets_dir": "Folder for new keys' secrets: one file per key, mode 0600, in a 0700 folder.",
    "state_dir": "Folder for pending approvals and the generated HTTP token; the server and "
    "`venice-keys-mcp approve` must share it.",
    "audit_log": "The append-only audit log (JSON lines, mode 0600), chained with a keyed MAC; "
    "with `--sandbox`, each run writes its own log under the state folder's `sandbox/`.",
    "audit_syslog": "`1`: also send every audit entry to the local syslog/journald (`/dev/log`, else "
    "UDP localhost:514), a copy the agent cannot rewrite; or a unix socket path, or `host:port` (UDP).",
    "signing_key": "Key (hex or base64, at least 32 bytes) for confirmation tokens and sealed request "
    "state; give every instance behind a load balancer the same one.",
    "timeout": "Seconds to wait for Venice on each request.",
    "log_level": "`DEBUG`, `INFO`, `WARNING` or `ERROR`. Logs go to stderr, never stdout.",
}

#: Defaults that are not a plain value of the `Settings` model.
DEFAULT_TEXT: dict[str, str] = {
    "admin_key": "none: required unless `--sandbox` (or `VENICE_KEYS_SANDBOX=1`)",
    "http_token": "generated, e.g. `~/.local/state/venice-keys-mcp/http-token`",
    "no_auth": "off",
    "allowed_hosts": "`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`",
    "allowed_origins": "`http://` + each allowed host",
    "toolsets": "`keys,workflows,spend,limits` (all but `web3`)",
    "max_usd": "no limit",
    "max_diem": "no limit",
    "max_expiry_days": "no limit",
    "sandbox_keys": "the seeded dozen",
    "secrets_dir": "per-user data folder, e.g. `~/.local/share/venice-keys-mcp/secrets`",
    "audit_log": "per-user state folder, e.g. `~/.local/state/venice-keys-mcp/audit.jsonl`",
    "state_dir": "per-user state folder, e.g. `~/.local/state/venice-keys-mcp`",
    "audit_syslog": "off",
    "signing_key": "random, per process",
}


def _serve_flags() -> dict[str, str]:
    """Settings field -> the top-level flag that sets it, read from the real parser."""
    from venice_keys_mcp.cli import build_parser
    from venice_keys_mcp.settings import Settings

    flags: dict[str, str] = {}
    for action in build_parser()._actions:
        if action.dest in Settings.model_fields and action.option_strings:
            flags[action.dest] = max(action.option_strings, key=len)
    return flags


def _default(field: str, value: Any) -> str:
    if field in DEFAULT_TEXT:
        return DEFAULT_TEXT[field]
    if isinstance(value, bool):
        return "`1`" if value else "`0` (off)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_table() -> str:
    """One row per setting a person can change, environment variable and flag side by side."""
    from venice_keys_mcp.settings import ENV_VARS, Settings

    flags = _serve_flags()
    rows = ["| Environment variable | Flag | Default | What it does |", "|---|---|---|---|"]
    for field, info in Settings.model_fields.items():
        env = ENV_VARS.get(field, ())
        flag = flags.get(field)
        if not env and not flag:
            continue  # internal knobs (e.g. token_ttl) are not settings
        if field not in MEANING:
            raise KeyError(f"setting {field!r} has no line in scripts/sync_readme.py MEANING")
        env_text = " or ".join(f"`{name}`" for name in env) or "—"
        if field == "sandbox":
            default = "off"
        elif field == "transport":
            default = "`stdio`"
        else:
            default = _default(field, info.default)
        flag_text = f"`{flag}`" if flag else "—"
        rows.append(f"| {env_text} | {flag_text} | {default} | {MEANING[field]} |")
    return "\n".join(rows)


def _kind(tool: Any) -> str:
    notes = tool.annotations
    if notes is None:
        return "?"
    if notes.read_only_hint:
        return "read-only"
    if notes.destructive_hint:
        return "destructive"
    return "changes keys"


def _names_in(toolset: str) -> list[str]:
    """The tools one toolset registers (read and write), without starting a server."""
    import tempfile

    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.server import collect_tools
    from venice_keys_mcp.settings import Settings

    with tempfile.TemporaryDirectory(prefix="venice-keys-readme-") as tmp:
        where = {"audit_log": Path(tmp) / "a.jsonl", "state_dir": Path(tmp)}
        settings = Settings(sandbox=True, toolsets=(toolset,), **where)
        return [spec.name for spec in collect_tools(settings, build_runtime(settings)).specs]


def tools_table(tools: list[Any] | None = None) -> str:
    """Every tool of every toolset, with its toolset (`VENICE_KEYS_TOOLSETS`; the default marked)."""
    from venice_keys_mcp.settings import DEFAULT_TOOLSETS, TOOLSETS

    if tools is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from sync_manifest import live_tool_objects

        tools = live_tool_objects(TOOLSETS)
    toolset = {name: ts for ts in reversed(TOOLSETS) for name in _names_in(ts)}
    rows = ["| Tool | Toolset | Kind | What the agent is told |", "|---|---|---|---|"]
    for t in tools:
        ts = toolset.get(t.name, "")
        shown = f"{ts}" + ("" if ts in DEFAULT_TOOLSETS else " (not default)")
        rows.append(f"| `{t.name}` | {shown} | {_kind(t)} | {t.description} |")
    return "\n".join(rows)


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated:{name} [^>]*-->)\n(.*?)\n?(<!-- /generated:{name} -->)", re.DOTALL)


def generated(tools: list[Any] | None = None) -> dict[str, str]:
    return {"settings": settings_table(), "tools": tools_table(tools)}


def stale(text: str, blocks: dict[str, str]) -> list[str]:
    """Names of generated blocks that are missing from `text` or differ from `blocks`."""
    out = []
    for name, body in blocks.items():
        match = _block(name).search(text)
        if match is None or match.group(2) != body:
            out.append(name)
    return out


def rewrite(text: str, blocks: dict[str, str]) -> str:
    for name, body in blocks.items():
        pattern = _block(name)
        if not pattern.search(text):
            raise ValueError(f"README.md has no <!-- generated:{name} ... --> block")
        text = pattern.sub(lambda m, body=body: f"{m.group(1)}\n{body}\n{m.group(3)}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if a generated table is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the generated tables in README.md")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    blocks = generated()
    if args.write:
        README.write_text(rewrite(text, blocks), encoding="utf-8")
        print(f"README.md: regenerated {', '.join(blocks)}")
        return 0
    names = stale(text, blocks)
    if names:
        print(
            f"README.md: stale generated table(s): {', '.join(names)}; "
            "run python scripts/sync_readme.py --write",
            file=sys.stderr,
        )
        return 1
    print("README.md: generated tables are up to date")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
