"""Saving and loading sandbox state (`sandbox --state FILE`), crash-safely.

Writes go to a temporary file in the same directory, are fsynced, then atomically
replace the old file (and the directory is fsynced), so a kill -9 at any moment leaves
the old state or the new one, never half of each. Keys are stored as SHA-256 + last six
characters; only the two demo secrets are kept in clear, because `serve` must print
them again after a restart (the file is created mode 0600). A temporary file that a
kill left behind never replaced anything, so loading discards it.

`VENICE_KEYS_SANDBOX_TEST_CRASH_POINT` is a test-only hook (inert unless set) that stops a
chosen save at a chosen point so a test can kill -9 exactly mid-write; see `_crash_point`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from venice_keys_mcp.sandbox.state import Account, BreachEntry, DemoAccount, SandboxState, StoredKey
from venice_keys_mcp.settings import TEST_HOOK_ENV, hook_value

FORMAT = "venice-keys-mcp-sandbox-state/1"
TEMP_SUFFIX = ".tmp"
CRASH_POINT_ENV = TEST_HOOK_ENV["sandbox_crash_point"]
CRASH_STAGES = ("torn", "written")  # half the bytes written, not synced / all written and synced
CRASH_PAUSE_SECONDS = 120.0  # long enough for any test to kill; bounded so nothing hangs forever

_saves_in_this_process = 0


class StateFileError(Exception):
    """The state file exists but cannot be used; the message says which file and why."""


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_when(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return moment


def dump_state(state: SandboxState) -> dict[str, Any]:
    keys = []
    for key in state.keys.values():
        row = asdict(key)
        for name in ("created_at", "expires_at", "last_used_at"):
            row[name] = _when(getattr(key, name))
        keys.append(row)
    accounts = [
        {
            "id": a.id,
            "balances": a.balances,
            "tier": a.tier,
            "diem_allocation": a.diem_allocation,
            "web_app_spend": a.web_app_spend,
            "breaches": [{**asdict(b), "timestamp": _when(b.timestamp)} for b in a.breaches],
        }
        for a in state.accounts.values()
    ]
    return {
        "format": FORMAT,
        "jwt_secret": state.jwt_secret.hex(),
        "demo": asdict(state.demo) if state.has_demo else None,
        "accounts": accounts,
        "wallets": [asdict(w) for w in state.wallets.values()],
        "keys": keys,
    }


def restore_state(data: Any) -> SandboxState:
    """A state from `dump_state` output; raises ValueError/KeyError/TypeError on bad input."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a sandbox state (expected format {FORMAT!r})")
    state = SandboxState()
    state.jwt_secret = bytes.fromhex(data["jwt_secret"])
    for row in data["accounts"]:
        account = Account(
            id=row["id"],
            balances=dict(row["balances"]),
            tier=row["tier"],
            diem_allocation=row.get("diem_allocation"),  # absent in files saved before billing
            web_app_spend=dict(row.get("web_app_spend") or {}),
        )
        for b in row["breaches"]:
            account.breaches.append(BreachEntry(**{**b, "timestamp": _parse_when(b["timestamp"])}))
        state.accounts[account.id] = account
    for row in data["wallets"]:
        state.add_wallet(row["address"], row["account_id"], staked=bool(row["staked"]))
    for row in data["keys"]:
        fields = {**row, **{n: _parse_when(row[n]) for n in ("created_at", "expires_at", "last_used_at")}}
        key = StoredKey(**fields)
        if key.account_id not in state.accounts or key.created_at is None:
            raise ValueError(f"key {key.id} is inconsistent")
        state.insert_key(key)
    if data["demo"] is not None:
        state.demo = DemoAccount(**data["demo"])
    return state


def interrupted_writes(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files that `save_state` made for `path` and never renamed (a kill mid-write)."""
    target = Path(path)
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return sorted(
        target.parent / n
        for n in names
        if n.startswith(prefix) and n.endswith(TEMP_SUFFIX) and len(n) > len(prefix) + len(TEMP_SUFFIX)
    )


def load_state_file(path: str | os.PathLike[str]) -> SandboxState | None:
    """The saved state, None when the file does not exist yet, or StateFileError.

    Temporary files left by an interrupted save are removed first: the rename never
    happened, so the target still holds the last complete state and they are debris.
    """
    target = Path(path)
    for debris in interrupted_writes(target):
        debris.unlink(missing_ok=True)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read sandbox state file {target}: {exc.strerror or exc}") from None
    try:
        return restore_state(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateFileError(
            f"sandbox state file {target} is corrupt or not a sandbox state ({type(exc).__name__}: {exc}); "
            "move it away or pass another --state file"
        ) from None


def save_state(state: SandboxState, path: str | os.PathLike[str]) -> None:
    """Write the state atomically and durably (temp file, fsync, replace, fsync dir)."""
    target = Path(path)
    directory = target.parent
    payload = json.dumps(dump_state(state), separators=(",", ":")).encode()
    crash_at = _crash_point()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file mode 0600
            if crash_at is not None and crash_at[0] == "torn":
                half = len(payload) // 2
                handle.write(payload[:half])
                handle.flush()
                _pause_for_the_kill(crash_at[1], tmp)
                payload = payload[half:]
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if crash_at is not None and crash_at[0] == "written":
            _pause_for_the_kill(crash_at[1], tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _crash_point() -> tuple[str, Path] | None:
    """The test hook: `N:STAGE:READY_FILE` stops this process's N-th save (1 = the save at
    start-up) at STAGE, after writing the temp file's path to READY_FILE, so the test knows
    the kill lands mid-write. Unset (always, outside tests), it costs one environment lookup.
    """
    spec = hook_value("sandbox_crash_point")
    if not spec:
        return None
    global _saves_in_this_process
    _saves_in_this_process += 1
    number, stage, ready = spec.split(":", 2)
    if stage not in CRASH_STAGES:
        raise ValueError(f"{CRASH_POINT_ENV}: stage must be one of {CRASH_STAGES}, not {stage!r}")
    return (stage, Path(ready)) if int(number) == _saves_in_this_process else None


def _pause_for_the_kill(ready: Path, tmp: str) -> None:
    partial = ready.with_name(ready.name + ".part")
    partial.write_text(tmp)
    os.replace(partial, ready)  # the test never reads half a path
    time.sleep(CRASH_PAUSE_SECONDS)
