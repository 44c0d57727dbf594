"""`venice-keys-mcp doctor`: check configuration, reachability and the key's type; say what to fix."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import anyio

from venice_keys_mcp.settings import Settings


@dataclass
class Check:
    ok: bool
    what: str
    fix: str = ""


async def _checks(settings: Settings) -> list[Check]:
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.venice import AdminKeyRequired, VeniceError

    out: list[Check] = []
    if settings.admin_key is None and not settings.sandbox:
        return [Check(False, "no Venice key configured", "set VENICE_ADMIN_KEY to an ADMIN key (or use --sandbox)")]
    rt = build_runtime(settings)
    where = "embedded sandbox" if settings.sandbox else rt.settings.base_url
    key = rt.settings.admin_key.get_secret_value() if rt.settings.admin_key else ""
    if key and not key.startswith(("VENICE_ADMIN_KEY_", "VENICE_INFERENCE_KEY_")):
        out.append(Check(True, "the key does not look like a Venice key (no VENICE_..._KEY_ prefix); trying anyway"))
    try:
        limits = await rt.client.get_rate_limits()
        out.append(Check(True, f"reached Venice at {where}; tier {limits.api_tier.id}, "
                               f"access {'permitted' if limits.access_permitted else 'denied'}"))
    except VeniceError as exc:
        out.append(Check(False, f"could not use the key at {where}: {exc}", "fix the key or VENICE_BASE_URL"))
        await rt.aclose()
        return out
    try:
        keys = await rt.client.list_keys()
        out.append(Check(True, f"the key is an ADMIN key (…{key[-6:]}); the account has {len(keys)} active keys"))
    except AdminKeyRequired:
        out.append(Check(False, "the key is an INFERENCE key: listing and changing keys needs an ADMIN key",
                         "create an ADMIN key in Venice's API settings and set VENICE_ADMIN_KEY"))
    except VeniceError as exc:
        out.append(Check(False, f"listing keys failed: {exc}"))
    await rt.aclose()
    out.append(_writable_dir(rt.secrets_dir, "secrets directory", "VENICE_KEYS_SECRETS_DIR"))
    out.append(_writable_dir(rt.audit.path.parent, "audit log directory", "VENICE_KEYS_AUDIT_LOG"))
    if settings.confirm == "off":
        out.append(Check(True, "WARNING: confirmation is off; revokes happen without asking anyone"))
    return out


def _writable_dir(path, label: str, env: str) -> Check:  # path: Path
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if os.access(probe, os.W_OK):
        return Check(True, f"{label} {path} is usable")
    return Check(False, f"{label} {path} is not writable", f"set {env} to a writable place")


def run_doctor(settings: Settings) -> int:
    checks = anyio.run(_checks, settings)
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        print(f"{mark} {c.what}" + (f"\n     fix: {c.fix}" if c.fix else ""))
    failed = sum(not c.ok for c in checks)
    print("All checks passed." if not failed else f"{failed} check(s) failed.", file=sys.stdout)
    return 0 if not failed else 1
