"""`venice-keys-mcp doctor`: check configuration, reachability and the key's type; say what to fix.

Each check prints `ok` or `FAIL` and, for a failure, a `fix:` line a person can act on.
Exit code 0 when every check passed, 1 when one failed. The doctor asks Venice once per
question and never retries: a person waiting at a terminal wants a verdict in seconds.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from venice_keys_mcp.safety.console import display_url
from venice_keys_mcp.settings import DEFAULT_BASE_URL, Settings, env_name

if TYPE_CHECKING:
    from venice_keys_mcp.venice import VeniceClient

#: The doctor waits at most this long for any one answer.
DOCTOR_TIMEOUT = 8.0
KEY_ENV = "VENICE_ADMIN_KEY (or VENICE_API_KEY)"


@dataclass
class Check:
    ok: bool
    what: str
    fix: str = ""
    mark: str = ""  # shown instead of ok/FAIL: "note" or "WARN" for lines that inform rather than check


async def _checks(settings: Settings) -> list[Check]:
    from venice_keys_mcp.runtime import build_runtime
    from venice_keys_mcp.venice import RetryPolicy, VeniceClient

    if settings.admin_key is None and not settings.sandbox:
        return [_no_key(settings)]
    rt = build_runtime(settings)
    key = rt.settings.admin_key.get_secret_value() if rt.settings.admin_key else ""
    # Against a real URL: one attempt per question and a short timeout, not the server's patient retries.
    client = (
        rt.client
        if settings.sandbox
        else VeniceClient(
            key,
            rt.settings.base_url,
            timeout=min(settings.timeout, DOCTOR_TIMEOUT),
            retry=RetryPolicy.never(),
        )
    )
    where = "the embedded sandbox" if settings.sandbox else display_url(rt.settings.base_url)
    out = [Check(True, f"configuration is valid; Venice at {where}")]
    if not key.startswith("VENICE_"):
        out.append(
            Check(True, "the key does not start with VENICE_ like Venice's keys; trying it", mark="note")
        )
    try:
        out += await _key_checks(client, where, f"…{key[-6:]}")
    finally:
        if not settings.sandbox:
            await client.aclose()
        await rt.aclose()
    out.append(_writable_dir(rt.secrets_dir, "secrets directory", env_name("secrets_dir")))
    out.append(_writable_dir(rt.audit.path.parent, "audit log directory", env_name("audit_log")))
    out += [Check(True, note, mark="note") for note in rt.notes]
    if settings.confirm == "off":
        out.append(Check(True, "confirmation is off: revokes happen without asking anyone", mark="WARN"))
    return out


def _no_key(settings: Settings) -> Check:
    from venice_keys_mcp.serve import command_hint

    where = "the real Venice API" if settings.base_url == DEFAULT_BASE_URL else display_url(settings.base_url)
    try_sandbox = shlex.join([*command_hint(), "--sandbox"])
    return Check(
        False,
        f"no Venice key configured (the server would talk to {where})",
        f"set {KEY_ENV} to an ADMIN key (Venice API settings), or try the sandbox: {try_sandbox}",
    )


async def _key_checks(client: VeniceClient, where: str, shown: str) -> list[Check]:
    """Can the key reach Venice at all (any key type can read its limits), and is it an ADMIN key?"""
    from venice_keys_mcp.venice import AdminKeyRequired, AuthenticationFailed, PaymentRequired, VeniceError

    try:
        limits = await client.get_rate_limits()
    except (AuthenticationFailed, PaymentRequired) as exc:
        fix = f"the key is invalid, revoked or expired: set {KEY_ENV} to an active ADMIN key"
        return [Check(False, f"Venice refused the key ({shown}): {exc.message}", fix)]
    except VeniceError as exc:
        return [Check(False, f"could not use Venice at {where}: {exc.message}", exc.hint)]
    access = "permitted" if limits.access_permitted else "denied"
    out = [
        Check(True, f"reached Venice; the key ({shown}) works: tier {limits.api_tier.id}, access {access}")
    ]
    try:
        keys = await client.list_keys()
    except AdminKeyRequired:
        out.append(
            Check(
                False,
                f"the key ({shown}) is an INFERENCE key: listing and changing keys needs an ADMIN key",
                f"create an ADMIN key in Venice's API settings and set {KEY_ENV} to it",
            )
        )
    except VeniceError as exc:
        out.append(Check(False, f"listing keys failed: {exc.message}", exc.hint))
    else:
        out.append(Check(True, f"the key ({shown}) is an ADMIN key; the account has {len(keys)} active keys"))
    return out


def _writable_dir(path: Path, label: str, env: str) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the directory will be created under the nearest existing parent
    if probe.is_dir() and os.access(probe, os.W_OK | os.X_OK):
        return Check(True, f"{label} {path} is usable")
    return Check(False, f"{label} {path} is not writable", f"set {env} to a writable place")


def run_doctor(settings: Settings) -> int:
    checks = anyio.run(_checks, settings)
    for c in checks:
        mark = c.mark or ("ok" if c.ok else "FAIL")
        print(f"{mark:<4} {c.what}" + (f"\n     fix: {c.fix}" if c.fix else ""))
    failed = sum(not c.ok for c in checks)
    print("All checks passed." if not failed else f"{failed} check(s) failed.", file=sys.stdout, flush=True)
    return 0 if not failed else 1
