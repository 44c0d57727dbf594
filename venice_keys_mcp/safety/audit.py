"""An append-only, keyed hash-chained JSONL trail of every change, refusal and confirmation.

Promise 3 of the design: every change leaves a trace a person can read and check later.

File format: one JSON object per line (UTF-8, ``\\n``-terminated), fields in this order::

    {"seq": 1, "time": "2026-04-20T10:05:00.123Z", "tool": "revoke_key", "key_id": "...",
     "args_digest": "sha256:<hex>", "confirmation": "elicitation", "outcome": "revoked",
     "detail": "...", "prev": "<64 hex>", "kid": "<16 hex>", "mac": "<64 hex>"}

- ``mac`` is HMAC-SHA256, under the audit key, of the entry's canonical JSON (sorted keys,
  compact) without ``mac``: editing any field shows, and so does an entry made up or
  re-chained by someone without the key (a plain hash, as older versions wrote, anyone
  can recompute after dropping an entry).
- ``prev`` is the SHA-256 of the previous line's exact bytes (without its newline), or
  64 zeros on the first line. It sits under the next entry's MAC, so deleting,
  inserting or reordering lines shows.
- ``seq`` counts from 1 without gaps; ``kid`` names the key (a MAC of a constant, not the key).

The audit key is kept outside the log's folder: 32 random bytes in
``<user config>/venice-keys-mcp/audit.key`` (0600, in a 0700 folder, created on first
use), or, when ``VENICE_KEYS_SIGNING_KEY`` is set, HMAC(signing key, "venice-keys-mcp/audit"),
so instances sharing a signing key write and check each other's logs.

Deleting the newest entries leaves a shorter chain that is still valid, so each append
also records the newest ``seq`` and line hash, MACed, in a side file ``<log>.head``
(replaced atomically). `verify` compares the two and fails when the head is missing,
forged or ahead of the log; an append that finds the log behind its head chains to the
head, so the gap stays visible.

Older logs (entries with ``hash`` instead of ``kid``/``mac``) stay readable: new entries
continue their chain, and the first keyed entry seals them (its MAC covers the hash of the
last old line). `verify` says so; a log with no keyed entry at all is reported as
unkeyed, not intact, since anyone could have written it.

What `verify` proves and cannot prove is stated once, in `PROVES` and `CANNOT_PROVE`,
which the README repeats.

Concurrency: appends take an exclusive `fcntl.flock` on the log, read the last entry
under the lock, write one line with O_APPEND and fsync, so several processes can share
one log and keep one chain. Every file here is opened with `open_private` (no symlink
is followed, a file another user owns is refused).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

from venice_keys_mcp.settings import env_name

from ._canonical import canonical_json, sha256_hex
from ._fs import UnsafeFileError, fsync_dir, make_private_dirs, open_private, open_state_file, write_all
from .secrets import Scrubber

if TYPE_CHECKING:
    from .syslog_sink import SyslogSink

__all__ = [
    "CANNOT_PROVE",
    "GENESIS",
    "PROVES",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "LegacyAuditEntry",
    "VerifyReport",
    "default_audit_key_path",
    "default_audit_path",
    "derive_audit_key",
    "head_path",
    "key_id",
    "load_audit_key",
    "main_verify",
    "new_sandbox_audit_path",
    "newest_sandbox_audit_log",
    "verify",
]

_log = logging.getLogger(__name__)

APP_NAME = "venice-keys-mcp"
AUDIT_LOG_ENV = env_name("audit_log")
SIGNING_KEY_ENV = env_name("signing_key")
GENESIS = "0" * 64
KEY_BYTES = 32
#: Sandbox runs whose logs are kept; older ones are removed when a new run starts.
SANDBOX_RUNS_KEPT = 10
#: `recent` never reads more than this from the end of the log.
MAX_TAIL_BYTES = 5 * 1024 * 1024
_CHUNK = 64 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")

#: What a passing `audit verify` proves. The README's audit section repeats it word for word.
PROVES = (
    "What this proves: no entry was edited, reordered, dropped, or removed from the tail "
    "by anyone without the audit key."
)
#: What it cannot prove. The README's audit section repeats it word for word.
CANNOT_PROVE = (
    "What it cannot prove: someone holding both the audit key and this file can rewrite "
    "everything, and someone who kept an earlier copy of the log and its head file can put "
    "both back; the syslog copy (VENICE_KEYS_AUDIT_SYSLOG=1) is the independent record."
)


class AuditError(Exception):
    """An entry could not be written; the change it describes has no trace yet."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(
            f"could not write the audit log {path}: {cause.strerror or cause}. Check its permissions and "
            f"free space, or point {AUDIT_LOG_ENV} elsewhere."
        )
        self.path = path


# -- the audit key ----------------------------------------------------------------------------


def default_audit_key_path() -> Path:
    """Where the audit key lives when no signing key is configured: the per-user config folder.

    Not the state folder the log is in: someone who can write the log's folder (a shared
    or relocated `VENICE_KEYS_AUDIT_LOG`) must not find the key beside it.
    """
    return platformdirs.user_config_path(APP_NAME) / "audit.key"


def derive_audit_key(signing_key: bytes) -> bytes:
    """The audit key of every instance that shares `VENICE_KEYS_SIGNING_KEY` (distinct from the token key)."""
    return hmac.new(signing_key, b"venice-keys-mcp/audit", hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """A short public name for an audit key, so `verify` can tell "another key" from "tampered"."""
    return hmac.new(key, b"venice-keys-mcp/audit-key-id", hashlib.sha256).hexdigest()[:16]


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _parse_key(data: bytes, path: Path) -> bytes:
    text = data.decode("ascii", "replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise UnsafeFileError(
            errno.EINVAL,
            f"the audit key file {path} is damaged (expected {KEY_BYTES * 2} hex digits)",
            str(path),
        )
    return key


def _private_dir(directory: Path) -> None:
    """Create `directory` 0700 if missing; refuse one another user owns, tighten a loose one of ours."""
    make_private_dirs(directory)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise UnsafeFileError(
                errno.EPERM,
                f"{directory} belongs to uid {info.st_uid}, not to this user; refusing to keep a key there",
                str(directory),
            )
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def load_audit_key(path: Path, *, create: bool) -> bytes | None:
    """Read the audit key file; with `create`, make it (0600, exclusively) if missing, else return None.

    A new key is written to a temporary file and linked into place, so a concurrent
    reader sees no file or a whole key, never an empty one; of two processes creating it
    at once, one wins and both use its key.
    """
    path = Path(path)
    for _ in range(3):
        try:
            fd = open_private(path, os.O_RDONLY)
        except FileNotFoundError:
            if not create:
                return None
        else:
            try:
                return _parse_key(os.read(fd, 4096), path)
            finally:
                os.close(fd)
        _private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = open_private(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        try:
            try:
                write_all(fd, secrets.token_hex(KEY_BYTES).encode() + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # fails if the name exists, and never follows a link there
            except FileExistsError:
                continue  # another process made it first: read theirs
            fsync_dir(path.parent)
        finally:
            os.unlink(tmp)
    raise UnsafeFileError(
        errno.EEXIST, f"the audit key file {path} keeps changing; refusing to use it", str(path)
    )


def _verification_keys(
    signing_key: str | None = None, key_file: Path | None = None
) -> dict[str, tuple[bytes, str]]:
    """kid -> (key, where it came from): the key derived from `signing_key` if given, and the key file's."""
    keys: dict[str, tuple[bytes, str]] = {}
    configured = signing_key
    if configured and configured.strip():
        from .tokens import load_signing_key

        key = derive_audit_key(load_signing_key(configured)[0])
        keys[key_id(key)] = (key, f"derived from {SIGNING_KEY_ENV}")
    key_file = key_file or default_audit_key_path()
    stored = load_audit_key(key_file, create=False)
    if stored is not None:
        keys.setdefault(key_id(stored), (stored, f"the key file {key_file}"))
    return keys


# -- entries and the head file -----------------------------------------------------------------


class _EntryFields(BaseModel):
    """What every audit line records, in either format."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    seq: int
    time: str
    tool: str
    key_id: str | None
    args_digest: str
    confirmation: str
    outcome: str
    detail: str
    prev: str


class AuditEntry(_EntryFields):
    """One line of the audit log, MACed with the audit key."""

    kid: str
    mac: str

    def computed_mac(self, key: bytes) -> str:
        """The MAC this entry should carry under `key`, from its other fields."""
        return _mac(key, canonical_json(self.model_dump(exclude={"mac"})).encode("utf-8"))


class LegacyAuditEntry(_EntryFields):
    """A line written before the chain was keyed: a plain SHA-256 ``hash`` anyone can recompute."""

    hash: str

    def computed_hash(self) -> str:
        """The hash this entry should carry, from its other fields."""
        return sha256_hex(canonical_json(self.model_dump(exclude={"hash"})))


class VerifyReport(BaseModel):
    """The result of checking an audit log's chain."""

    model_config = ConfigDict(defer_build=True)  # only `audit verify` needs it

    ok: bool
    entries: int
    first_broken_line: int | None = None
    reason: str
    #: Leading entries in the older, unkeyed format (sealed by a keyed one when `ok`).
    unkeyed: int = 0


class _Head(NamedTuple):
    seq: int
    hash: str
    kid: str | None
    mac: str | None


def head_path(path: Path) -> Path:
    """The side file holding the newest entry's seq and line hash."""
    return path.with_name(path.name + ".head")


def _head_message(seq: int, line_hash: str, kid: str) -> bytes:
    # Starts with a byte no entry's JSON starts with, so a head MAC is never an entry MAC.
    return b"head\x00" + canonical_json({"seq": seq, "hash": line_hash, "kid": kid}).encode()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_entry(line: bytes) -> AuditEntry | LegacyAuditEntry | None:
    for model in (AuditEntry, LegacyAuditEntry):
        try:
            return model.model_validate_json(line)
        except ValidationError:
            continue
    return None


def _read_head(path: Path) -> _Head | None:
    """The head file's record, None if it is missing or unreadable as a head; raises if it is unsafe."""
    try:
        fd = open_private(head_path(path), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
        seq, line_hash = data["seq"], data["hash"]
        kid, mac = data.get("kid"), data.get("mac")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not (isinstance(seq, int) and seq >= 1 and isinstance(line_hash, str) and _HEX64.fullmatch(line_hash)):
        return None
    if not (isinstance(kid, str | None) and isinstance(mac, str | None)):
        return None
    return _Head(seq, line_hash, kid, mac)


def _write_head(path: Path, seq: int, line_hash: str, key: bytes) -> None:
    target = head_path(path)
    kid = key_id(key)
    body = {"seq": seq, "hash": line_hash, "kid": kid, "mac": _mac(key, _head_message(seq, line_hash, kid))}
    # A fresh, exclusive temporary name: nothing planted there (a link to another file) is written.
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = open_private(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    try:
        try:
            write_all(fd, json.dumps(body).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)  # replaces a link planted at the target, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def _tail_lines(fd: int, size: int, limit: int = MAX_TAIL_BYTES) -> Iterator[bytes]:
    """Yield complete lines (without newline) from the end of the file backwards.

    Text after the last newline (a torn write) is not a line and is skipped. Reading
    stops after `limit` bytes, so a huge log costs no more than its tail.
    """
    end = size
    buf = b""  # from `end` up to the newest line not yet yielded; ends with a newline
    seeking_last_newline = True
    while end > 0 and size - end < limit:
        start = max(0, end - _CHUNK)
        buf = os.pread(fd, end - start, start) + buf
        end = start
        if seeking_last_newline:
            cut = buf.rfind(b"\n")
            if cut < 0:
                continue
            buf = buf[: cut + 1]
            seeking_last_newline = False
        lines = buf.split(b"\n")
        lines.pop()  # the empty string after the final newline
        # Unless we reached the start of the file, the first piece may begin before `end`.
        buf = lines.pop(0) + b"\n" if end > 0 else b""
        yield from reversed(lines)


class AuditLog:
    """Appends entries to one audit log file, shared safely across threads and processes.

    `key` is the audit key (`derive_audit_key` of a configured signing key); without it
    the key file at `key_file` (default `default_audit_key_path()`) is read, or created,
    on the first append. `syslog`, when given, also receives every entry's line.
    """

    def __init__(
        self,
        path: Path,
        *,
        key: bytes | None = None,
        key_file: Path | None = None,
        scrubber: Scrubber | None = None,
        clock: Callable[[], str] = _now_iso,
        syslog: SyslogSink | None = None,
    ) -> None:
        self.path = Path(path)
        self.key_file = None if key is not None else (key_file or default_audit_key_path())
        self._key = key
        self._kid = key_id(key) if key is not None else ""
        self._scrubber = scrubber or Scrubber()
        self._clock = clock
        self._syslog = syslog
        self._lock = threading.Lock()

    def _audit_key(self) -> bytes:
        """The key, loaded (or created) once; raises OSError if the key file cannot be used."""
        if self._key is None:
            assert self.key_file is not None
            key = load_audit_key(self.key_file, create=True)
            assert key is not None
            self._key, self._kid = key, key_id(key)
        return self._key

    def append(
        self,
        *,
        tool: str,
        key_id: str | None,
        args: Mapping[str, object],
        confirmation: str,
        outcome: str,
        detail: str = "",
    ) -> AuditEntry:
        """Record one change, refusal or confirmation outcome, durably, and return it.

        Arguments are stored only as a digest, computed after secrets are redacted, so
        the log can show that two calls were the same without holding what they carried.
        """
        scrub = self._scrubber.scrub
        digest = "sha256:" + sha256_hex(canonical_json(self._scrubber.scrub_obj(dict(args))))
        with self._lock:
            try:
                key = self._audit_key()
                fd = open_state_file(self.path)
            except OSError as exc:
                raise AuditError(self.path, exc) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                seq, prev = self._chain_tip(fd, size)
                fields = {
                    "seq": seq + 1,
                    "time": self._clock(),
                    "tool": scrub(tool),
                    "key_id": None if key_id is None else scrub(key_id),
                    "args_digest": digest,
                    "confirmation": scrub(confirmation),
                    "outcome": scrub(outcome),
                    "detail": scrub(detail),
                    "prev": prev,
                    "kid": self._kid,
                }
                entry = AuditEntry(**fields, mac=_mac(key, canonical_json(fields).encode("utf-8")))
                line = entry.model_dump_json().encode("utf-8")
                # After a torn write the file ends mid-line; start a fresh line.
                torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
                write_all(fd, (b"\n" if torn else b"") + line + b"\n")
                os.fsync(fd)
                if size == 0:
                    fsync_dir(self.path.parent)  # a new file's name must survive a crash too
                # Still under the lock, so heads are written in entry order. The entry is
                # already durable; a stale head only weakens the tail-deletion check.
                try:
                    _write_head(self.path, entry.seq, sha256_hex(line), key)
                except OSError as exc:
                    _log.warning("could not update %s: %s", head_path(self.path), exc.strerror or exc)
                if self._syslog is not None:
                    # Under the lock too, so the copy keeps the log's order; it never raises.
                    self._syslog.send(f"audit {self.path}: {line.decode('utf-8')}")
            except OSError as exc:
                raise AuditError(self.path, exc) from exc
            finally:
                os.close(fd)  # also releases the flock
        return entry

    def ensure_writable(self) -> None:
        """Raise `AuditError` unless an entry could be appended now; creates the file (0600) if missing.

        Called before a change is made, so a change whose trace could not be written is
        refused instead of made: the key, the log and its head file are all checked. It
        cannot foresee a full disk; `append` still can fail.
        """
        with self._lock:
            try:
                self._audit_key()
                os.close(open_state_file(self.path))
                _read_head(self.path)  # raises on a planted link or someone else's file
            except OSError as exc:
                raise AuditError(self.path, exc) from exc

    def verify(self) -> VerifyReport:
        """`verify` this log with the key it writes with (a configured one, or the key file's)."""
        key = self._audit_key()
        return verify(self.path, {self._kid: key})

    def recent(self, n: int = 20) -> list[AuditEntry | LegacyAuditEntry]:
        """The newest `n` readable entries, oldest first; reads only the end of the file."""
        if n <= 0:
            return []
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        try:
            newest_first: list[AuditEntry | LegacyAuditEntry] = []
            for line in _tail_lines(fd, os.fstat(fd).st_size):
                entry = _parse_entry(line)
                if entry is not None:
                    newest_first.append(entry)
                    if len(newest_first) == n:
                        break
        finally:
            os.close(fd)
        return newest_first[::-1]

    def _chain_tip(self, fd: int, size: int) -> tuple[int, str]:
        """The (seq, line hash) the next entry continues from, read under the lock."""
        tip = (0, GENESIS)
        for line in _tail_lines(fd, size):
            entry = _parse_entry(line)
            if entry is not None:
                tip = (entry.seq, sha256_hex(line))
                break
        head = _read_head(self.path)
        # A head ahead of the log means newest entries vanished; chaining to the head
        # keeps that gap visible instead of papering over it. A head behind the log is
        # just a crash between the two writes.
        if head is not None and (head.seq > tip[0] or (head.seq == tip[0] and head.hash != tip[1])):
            return head.seq, head.hash
        return tip


def verify(path: Path, keys: Mapping[str, bytes] | None = None) -> VerifyReport:
    """Check an audit log's keyed chain line by line; raises OSError if it cannot be read.

    `keys` maps key ids to audit keys; by default, the key file's (if it exists, never
    created here). `main_verify` adds the key derived from the configured signing key.
    """
    path = Path(path)
    if keys is None:
        keys = {kid: key for kid, (key, _) in _verification_keys().items()}
    head = _read_head(path)
    count = unkeyed = 0
    prev_hash, prev_seq = GENESIS, 0
    head_line_hash: str | None = None
    last_kid: str | None = None

    def broken(line_no: int, reason: str) -> VerifyReport:
        """The report of a log broken at `line_no` (read after the loop too: `count` so far)."""
        return VerifyReport(
            ok=False,
            entries=count,
            first_broken_line=line_no,
            reason=f"line {line_no}: {reason}",
            unkeyed=unkeyed,
        )

    fd = open_private(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                return broken(
                    line_no,
                    "the last entry is incomplete — writing it was interrupted (a crash or a full disk); "
                    "the next append starts a new line after it",
                )
            line = raw[:-1]
            try:
                json.loads(line)
            except ValueError:
                return broken(
                    line_no, "not valid JSON — the line was cut short by a crash or changed by hand"
                )
            entry = _parse_entry(line)
            if entry is None:
                return broken(line_no, "fields are missing or malformed — the entry was changed by hand")
            if isinstance(entry, AuditEntry):
                key = keys.get(entry.kid)
                if key is None:
                    return broken(
                        line_no,
                        f"written with audit key {entry.kid}, which this check does not have "
                        f"(it has: {', '.join(sorted(keys)) or 'none'}) — run it as the user the server "
                        f"runs as, with the same {SIGNING_KEY_ENV}; if that is how you ran it, the entry "
                        "was forged",
                    )
                if not hmac.compare_digest(entry.mac, entry.computed_mac(key)):
                    return broken(
                        line_no,
                        "MAC mismatch — the entry was edited after it was written, or written without "
                        "the audit key",
                    )
                last_kid = entry.kid
            else:
                if last_kid is not None:
                    return broken(
                        line_no,
                        "an entry in the older, unkeyed format after keyed ones — this server did not "
                        "write it",
                    )
                if entry.hash != entry.computed_hash():
                    return broken(line_no, "hash mismatch — the entry was edited after it was written")
                unkeyed += 1
            if entry.seq != prev_seq + 1:
                if line_no == 1:
                    return broken(
                        line_no,
                        f"the log starts at entry #{entry.seq}, not #1 — earlier entries were removed",
                    )
                if entry.seq > prev_seq + 1:
                    return broken(
                        line_no,
                        f"entry #{entry.seq} follows #{prev_seq} — entries in between were deleted or moved",
                    )
                return broken(
                    line_no,
                    f"entry #{entry.seq} comes after #{prev_seq} — entries were reordered, duplicated "
                    "or inserted",
                )
            if entry.prev != prev_hash:
                return broken(
                    line_no,
                    f"its prev hash does not match line {line_no - 1} — an entry was inserted, replaced or "
                    "removed just before it",
                )
            count += 1
            prev_hash, prev_seq = sha256_hex(line), entry.seq
            if head is not None and entry.seq == head.seq:
                head_line_hash = prev_hash

    if count == 0 and head is None:
        return VerifyReport(ok=True, entries=0, reason="the log is empty; nothing was recorded yet")
    if count > 0 and count == unkeyed:
        return VerifyReport(
            ok=False,
            entries=count,
            unkeyed=unkeyed,
            reason=(
                f"unkeyed (older format) — all {count} entries predate the keyed chain; their hashes "
                "agree, but anyone who could write the file could have rewritten them. The next entry "
                "this server writes seals them."
            ),
        )
    if head is None:
        return broken(
            count + 1,
            f"the head file {head_path(path).name} is missing — the newest entries "
            "may have been deleted together with it",
        )
    if head.kid is None or head.mac is None:
        return broken(
            count + 1,
            f"the head file {head_path(path).name} carries no MAC although the "
            "log is keyed — it was replaced by hand",
        )
    head_key = keys.get(head.kid)
    if head_key is None or not hmac.compare_digest(
        head.mac, _mac(head_key, _head_message(head.seq, head.hash, head.kid))
    ):
        return broken(
            count + 1,
            f"the head file {head_path(path).name} has a wrong MAC — it was written "
            "without the audit key, so the newest entries may have been deleted",
        )
    if head.seq > prev_seq:
        if count == 0:
            return broken(
                1,
                f"missing — the log is empty but the head file records entry #{head.seq}; "
                "its entries were deleted",
            )
        return broken(
            count + 1,
            f"missing — the head file records entry #{head.seq} but the log ends at "
            f"#{prev_seq}; the newest entries were deleted",
        )
    if head_line_hash != head.hash:
        return broken(
            head.seq,
            f"entry #{head.seq} differs from the one recorded in the head file — "
            "it was rewritten after it was written",
        )
    reason = f"{count} entries, chain intact; the head file matches"
    if unkeyed:
        reason += (
            f"; entries #1 to #{unkeyed} are in the older, unkeyed format, sealed by entry #{unkeyed + 1} "
            "(they have not changed since it was written)"
        )
    return VerifyReport(ok=True, entries=count, reason=reason, unkeyed=unkeyed)


def default_audit_path() -> Path:
    """Where the audit log goes when `Settings.audit_log` is unset: the per-user state directory."""
    return platformdirs.user_state_path(APP_NAME) / "audit.jsonl"


# -- the sandbox's logs: one per run ---------------------------------------------------------------


def sandbox_audit_dir() -> Path:
    """Where `--sandbox` keeps one audit log per run (the newest `SANDBOX_RUNS_KEPT`)."""
    return platformdirs.user_state_path(APP_NAME) / "sandbox"


def new_sandbox_audit_path(
    directory: Path | None = None, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Path:
    """A new path for this sandbox run's own audit log; prunes the logs of old runs.

    The sandbox forgets everything when it stops, so its trail must not mix with an
    earlier run's: each run gets ``audit-<UTC time>-<pid>-<random>.jsonl``. The file is
    not made here (`doctor --sandbox` builds a runtime too and should leave no run
    behind); the server makes it at start-up when its audit guard checks the log. Logs
    of runs beyond the newest `SANDBOX_RUNS_KEPT` are removed, unless their process is
    still running.
    """
    directory = Path(directory) if directory is not None else sandbox_audit_dir()
    make_private_dirs(directory)
    stamp = now().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = directory / f"audit-{stamp}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"
    _prune_sandbox_logs(directory, keep=SANDBOX_RUNS_KEPT - 1)  # this run is the tenth
    return path


def _sandbox_logs(directory: Path) -> list[Path]:
    """The sandbox run logs in `directory`, oldest first (their names start with the UTC time)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    runs = sorted(n for n in names if n.startswith("audit-") and n.endswith(".jsonl"))
    return [directory / n for n in runs]


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prune_sandbox_logs(directory: Path, *, keep: int) -> None:
    logs = _sandbox_logs(directory)
    for old in logs[: max(0, len(logs) - keep)]:
        parts = old.stem.split("-")
        if len(parts) >= 3 and parts[2].isdigit() and _alive(int(parts[2])):
            continue  # a sandbox still running (or a reused pid): keep it, prune it next time
        for victim in (old, head_path(old), old.with_name(old.name + ".tokens")):
            try:
                os.unlink(victim)  # unlink removes a name, never follows a link
            except FileNotFoundError:
                pass
            except OSError as exc:
                _log.warning("could not remove the old sandbox audit log %s: %s", victim, exc.strerror or exc)


def newest_sandbox_audit_log(directory: Path | None = None) -> Path | None:
    """The newest sandbox run's audit log, or None if no sandbox ran."""
    logs = _sandbox_logs(Path(directory) if directory is not None else sandbox_audit_dir())
    return logs[-1] if logs else None


# -- `venice-keys-mcp audit verify` ---------------------------------------------------------------


def main_verify(
    path: Path | None = None,
    *,
    sandbox: bool = False,
    configured_path: str | None = None,
    signing_key: str | None = None,
) -> int:
    """`venice-keys-mcp audit verify`: print a report; exit 0 intact, 1 broken or unkeyed, 2 unreadable.

    `configured_path` and `signing_key` are the raw audit log and signing key settings
    (`settings.env_value`): read raw, so an unrelated bad setting cannot stop a check.
    """
    if path is None and configured_path:
        path = Path(configured_path).expanduser()
    if path is None and sandbox:
        path = newest_sandbox_audit_log()
        if path is None:
            print(f"no sandbox audit log in {sandbox_audit_dir()}: run venice-keys-mcp --sandbox first")
            return 2
        count = len(_sandbox_logs(path.parent))
        print(f"the newest sandbox run's log (of {count} kept in {path.parent}): {path.name}")
    path = Path(path) if path is not None else default_audit_path()
    try:
        found = _verification_keys(signing_key)
    except ValueError as exc:  # an unusable VENICE_KEYS_SIGNING_KEY; the message never repeats it
        print(f"audit log {path}: cannot check it: {exc}")
        return 2
    except OSError as exc:
        print(f"audit log {path}: cannot read the audit key: {exc.strerror or exc}")
        return 2
    try:
        report = verify(path, {kid: key for kid, (key, _) in found.items()})
    except FileNotFoundError:
        print(f"audit log {path}: not found (set {AUDIT_LOG_ENV} or pass --file)")
        newest = None if sandbox else newest_sandbox_audit_log()
        if newest is not None:  # most often: someone tried the sandbox and then ran this
            print(f"The newest sandbox run wrote {newest}: check it with {APP_NAME} audit verify --sandbox")
        return 2
    except OSError as exc:
        print(f"audit log {path}: cannot be read: {exc.strerror or exc}")
        return 2
    keys_text = "; ".join(f"audit key {kid} from {source}" for kid, (_, source) in found.items())
    if report.ok:
        print(f"audit log {path}: OK — {report.reason}")
        print(f"Checked with {keys_text or 'no audit key'}.")
        print(PROVES)
        print(CANNOT_PROVE)
        return 0
    if report.first_broken_line is None:  # readable, consistent, but nothing proves it
        print(f"audit log {path}: UNKEYED — {report.reason}")
    else:
        print(f"audit log {path}: BROKEN — {report.reason}")
        print(f"{report.entries} entries before that point are intact.")
    print(f"Checked with {keys_text or 'no audit key (none configured, no key file)'}.")
    print(CANNOT_PROVE)
    sys.stdout.flush()
    return 1
