"""An append-only, hash-chained JSONL trail of every change, refusal and confirmation.

Promise 3 of the design: every change leaves a trace a person can read and check later.

File format: one JSON object per line (UTF-8, ``\\n``-terminated), fields in this order::

    {"seq": 1, "time": "2026-04-20T10:05:00.123Z", "tool": "revoke_key", "key_id": "...",
     "args_digest": "sha256:<hex>", "confirmation": "elicitation", "outcome": "revoked",
     "detail": "...", "prev": "<64 hex>", "hash": "<64 hex>"}

- ``hash`` is the SHA-256 of the entry's canonical JSON (sorted keys, compact) without
  ``hash``: editing any field shows.
- ``prev`` is the SHA-256 of the previous line's exact bytes (without its newline), or
  64 zeros on the first line: deleting, inserting or reordering lines shows.
- ``seq`` counts from 1 without gaps.

Deleting the newest entries leaves a shorter chain that is still valid, so each append
also records the newest ``seq`` and line hash in a side file ``<log>.head`` (replaced
atomically). `verify` compares the two, and an append that finds the log behind its head
chains to the head, so the gap stays visible. The head file only defeats truncation by
someone who forgets it; like the log, it is evidence, not a signature.

Concurrency: appends take an exclusive `fcntl.flock` on the log, read the last entry
under the lock, write one line with O_APPEND and fsync, so several processes can share
one log and keep one chain.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

from ._canonical import canonical_json, sha256_hex
from ._fs import fsync_dir, make_private_dirs, write_all
from .secrets import Scrubber

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "VerifyReport",
    "default_audit_path",
    "head_path",
    "main_verify",
    "verify",
]

_log = logging.getLogger(__name__)

AUDIT_LOG_ENV = "VENICE_KEYS_AUDIT_LOG"
GENESIS = "0" * 64
#: `recent` never reads more than this from the end of the log.
MAX_TAIL_BYTES = 5 * 1024 * 1024
_CHUNK = 64 * 1024


class AuditError(Exception):
    """An entry could not be written; the change it describes has no trace yet."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(
            f"could not write the audit log {path}: {cause.strerror or cause}. Check its permissions and "
            f"free space, or point {AUDIT_LOG_ENV} elsewhere."
        )
        self.path = path


class AuditEntry(BaseModel):
    """One line of the audit log."""

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


def head_path(path: Path) -> Path:
    """The side file holding the newest entry's seq and line hash."""
    return path.with_name(path.name + ".head")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_entry(line: bytes) -> AuditEntry | None:
    try:
        return AuditEntry.model_validate_json(line)
    except ValidationError:
        return None


def _read_head(path: Path) -> tuple[int, str] | None:
    try:
        data = json.loads(head_path(path).read_bytes())
        seq, line_hash = data["seq"], data["hash"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(seq, int) and seq >= 1 and isinstance(line_hash, str) and len(line_hash) == 64:
        return seq, line_hash
    return None


def _write_head(path: Path, seq: int, line_hash: str) -> None:
    target = head_path(path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, json.dumps({"seq": seq, "hash": line_hash}).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
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
    """Appends entries to one audit log file, shared safely across threads and processes."""

    def __init__(
        self,
        path: Path,
        *,
        scrubber: Scrubber | None = None,
        clock: Callable[[], str] = _now_iso,
    ) -> None:
        self.path = Path(path)
        self._scrubber = scrubber or Scrubber()
        self._clock = clock
        self._lock = threading.Lock()

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
                fd = self._open()
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
                }
                entry = AuditEntry(**fields, hash=sha256_hex(canonical_json(fields)))
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
                    _write_head(self.path, entry.seq, sha256_hex(line))
                except OSError as exc:
                    _log.warning("could not update %s: %s", head_path(self.path), exc.strerror or exc)
            except OSError as exc:
                raise AuditError(self.path, exc) from exc
            finally:
                os.close(fd)  # also releases the flock
        return entry

    def ensure_writable(self) -> None:
        """Raise `AuditError` unless an entry could be appended now; creates the file (0600) if missing.

        Called before a change is made, so a change whose trace could not be written is
        refused instead of made. It cannot foresee a full disk; `append` still can fail.
        """
        with self._lock:
            try:
                os.close(self._open())
            except OSError as exc:
                raise AuditError(self.path, exc) from exc

    def recent(self, n: int = 20) -> list[AuditEntry]:
        """The newest `n` readable entries, oldest first; reads only the end of the file."""
        if n <= 0:
            return []
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            newest_first: list[AuditEntry] = []
            for line in _tail_lines(fd, os.fstat(fd).st_size):
                entry = _parse_entry(line)
                if entry is not None:
                    newest_first.append(entry)
                    if len(newest_first) == n:
                        break
        finally:
            os.close(fd)
        return newest_first[::-1]

    def _open(self) -> int:
        make_private_dirs(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        except OSError:
            os.close(fd)
            raise
        return fd

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
        if head is not None and (head[0] > tip[0] or (head[0] == tip[0] and head[1] != tip[1])):
            return head
        return tip


def verify(path: Path) -> VerifyReport:
    """Check an audit log's chain line by line; raises OSError if it cannot be read."""
    path = Path(path)
    head = _read_head(path)
    count = 0
    prev_hash, prev_seq = GENESIS, 0
    head_line_hash: str | None = None

    def broken(line_no: int, reason: str) -> VerifyReport:
        return VerifyReport(
            ok=False, entries=count, first_broken_line=line_no, reason=f"line {line_no}: {reason}"
        )

    with path.open("rb") as f:
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
            if entry.hash != entry.computed_hash():
                return broken(line_no, "hash mismatch — the entry was edited after it was written")
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
            if head is not None and entry.seq == head[0]:
                head_line_hash = prev_hash

    if head is None:
        note = f"no head file ({head_path(path).name}), so deletion of the newest entries cannot be ruled out"
    elif head[0] > prev_seq and count == 0:
        return VerifyReport(
            ok=False,
            entries=0,
            first_broken_line=1,
            reason=f"line 1: missing — the log is empty but the head file records entry #{head[0]}; "
            "its entries were deleted",
        )
    elif head[0] > prev_seq:
        return VerifyReport(
            ok=False,
            entries=count,
            first_broken_line=count + 1,
            reason=(
                f"line {count + 1}: missing — the head file records entry #{head[0]} but the log ends at "
                f"#{prev_seq}; the newest entries were deleted"
            ),
        )
    elif head_line_hash != head[1]:
        line_no = head[0]
        return VerifyReport(
            ok=False,
            entries=count,
            first_broken_line=line_no,
            reason=(
                f"line {line_no}: entry #{head[0]} differs from the one recorded in the head file — "
                "it was rewritten after it was written"
            ),
        )
    else:
        note = "the head file matches"
    return VerifyReport(ok=True, entries=count, reason=f"{count} entries, chain intact; {note}")


def default_audit_path() -> Path:
    """`VENICE_KEYS_AUDIT_LOG` if set, else `audit.jsonl` in the per-user state directory."""
    configured = os.environ.get(AUDIT_LOG_ENV)
    if configured:
        return Path(configured).expanduser()
    return platformdirs.user_state_path("venice-keys-mcp") / "audit.jsonl"


def main_verify(path: Path | None = None) -> int:
    """`venice-keys-mcp audit verify`: print a report; exit 0 intact, 1 broken, 2 unreadable."""
    path = Path(path) if path is not None else default_audit_path()
    try:
        report = verify(path)
    except FileNotFoundError:
        print(f"audit log {path}: not found (set {AUDIT_LOG_ENV} or pass --file)")
        return 2
    except OSError as exc:
        print(f"audit log {path}: cannot be read: {exc.strerror or exc}")
        return 2
    if report.ok:
        print(f"audit log {path}: OK — {report.reason}")
        return 0
    print(f"audit log {path}: BROKEN — {report.reason}")
    print(f"{report.entries} entries before that point are intact.")
    sys.stdout.flush()
    return 1
