"""Pending approvals: what a person is asked to approve, and whether they did, shared by every process.

A gated action on a host without forms is not carried out at once: it becomes a pending
approval, bound to the exact action and arguments (a digest), which a person approves or
declines through a channel the model cannot use: the approval card (MCP Apps, which must
present a one-time nonce that travels only in the gated result's `_meta`) or the terminal
(`venice-keys-mcp approve`, TTY only). Nothing the model is given approves anything: an
`approval_id` only names a record whose state a person changed.

Every record is single use across all processes that share the state folder: the change
from `approved` to `used` happens under an exclusive lock, so of two concurrent calls
exactly one carries the action out. Time only moves forward here: the store keeps the
latest clock reading it has seen, so a clock stepped back cannot make an expired
approval live again, and used records are kept until well after they expired.

The store is one small interface (`ApprovalStore`); `FileApprovalStore` is a 0600 JSON
file locked with `flock`, which serves every process on one machine. A deployment on
several machines replaces it with a shared store without touching the tools.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ._canonical import canonical_json
from ._fs import open_state_file, read_whole, rewrite_whole

__all__ = [
    "Approval",
    "ApprovalError",
    "ApprovalStore",
    "FileApprovalStore",
    "args_digest",
    "new_nonce",
    "nonce_digest",
]

T = TypeVar("T")
State = Literal["pending", "approved", "declined", "used"]
Kind = Literal["action", "reveal"]
#: How long a used or declined record is kept after it expired, so a replay still reads "used".
KEEP_AFTER_EXPIRY = 24 * 3600


class ApprovalError(Exception):
    """The store cannot be read or written; the message says which file and what to fix."""


class Approval(BaseModel):
    """One decision a person is asked to make, and its state."""

    model_config = ConfigDict(extra="ignore")

    id: str
    kind: Kind = "action"
    action: str
    digest: str = Field(description="sha256 of the canonical confirmed arguments")
    call: dict[str, Any] = Field(default_factory=dict, description="What the approved action runs with")
    summary: list[str] = Field(default_factory=list, description="The preview a person reads")
    expect: str | None = Field(default=None, description="What the person must type (None: a plain yes)")
    expect_label: str = ""
    nonce_digest: str | None = None
    secret_file: str | None = None
    created: float
    expires: float
    state: State = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    outcome: str | None = None


class ApprovalStore(Protocol):
    """What the approval path needs from storage: atomic single records, a list of pending ones."""

    def add(self, make: Callable[[float], Approval]) -> Approval:
        """Store `make(now)`, built from the store's clock in the same transaction."""
        ...

    def look(self, approval_id: str) -> tuple[Approval | None, float]:
        """The record (None if unknown) and the store's clock, read together."""
        ...

    def get(self, approval_id: str) -> Approval | None: ...

    def pending(self) -> list[Approval]: ...

    def update(self, approval_id: str, change: Callable[[Approval, float], Approval]) -> Approval:
        """Apply `change(record, now)` atomically and store what it returns; raises KeyError if unknown."""
        ...


def args_digest(action: str, args: Mapping[str, object]) -> str:
    """The digest an approval is bound to: the action and its exact arguments."""
    return hashlib.sha256(canonical_json({"a": action, "args": dict(args)}).encode("utf-8")).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def nonce_digest(nonce: str) -> str:
    """Only a digest of the card's nonce is stored: the file never holds what approves."""
    return hashlib.sha256(b"venice-keys-mcp/approval-nonce\x00" + nonce.encode("utf-8")).hexdigest()


def nonce_matches(approval: Approval, nonce: str | None) -> bool:
    if not nonce or approval.nonce_digest is None:
        return False
    return hmac.compare_digest(nonce_digest(nonce), approval.nonce_digest)


def new_id() -> str:
    return "ap_" + secrets.token_urlsafe(9)


class FileApprovalStore:
    """Approvals in one JSON file (0600, in a 0700 folder), every read-modify-write under `flock`.

    Opened with `open_private`, as every file the server writes: a planted symlink or
    another user's file is refused, never followed.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock

    # -- the interface ------------------------------------------------------------------

    def add(self, make: Callable[[float], Approval]) -> Approval:
        def put(data: dict[str, Any], now: float) -> Approval:
            made = make(now)
            data["approvals"][made.id] = made.model_dump(mode="json")
            return made

        return self._transact(put)

    def look(self, approval_id: str) -> tuple[Approval | None, float]:
        def read(data: dict[str, Any], now: float) -> tuple[Approval | None, float]:
            raw = data["approvals"].get(approval_id)
            return (None if raw is None else Approval.model_validate(raw)), now

        return self._transact(read, write=False)

    def get(self, approval_id: str) -> Approval | None:
        return self.look(approval_id)[0]

    def pending(self) -> list[Approval]:
        def read(data: dict[str, Any], now: float) -> list[Approval]:
            every = (Approval.model_validate(raw) for raw in data["approvals"].values())
            return [a for a in every if a.state == "pending" and a.expires > now]

        return sorted(self._transact(read, write=False), key=lambda a: a.created)

    def update(self, approval_id: str, change: Callable[[Approval, float], Approval]) -> Approval:
        def apply(data: dict[str, Any], now: float) -> Approval:
            raw = data["approvals"].get(approval_id)
            if raw is None:
                raise KeyError(approval_id)
            new = change(Approval.model_validate(raw), now)
            data["approvals"][approval_id] = new.model_dump(mode="json")
            return new

        return self._transact(apply)

    def now(self) -> float:
        """The store's clock: never earlier than any reading it has seen."""
        return self.look("")[1]

    # -- the file -----------------------------------------------------------------------

    def _transact(self, body: Callable[[dict[str, Any], float], T], *, write: bool = True) -> T:
        """Run `body(data, now)` under an exclusive lock and return what it returns; store the data
        if it wrote or time moved on.

        Every look records the latest clock reading, reads included: that is what keeps a
        clock stepped back from reviving anything.
        """
        try:
            fd = open_state_file(self.path)
        except OSError as exc:
            raise ApprovalError(
                f"The approvals file {self.path} cannot be opened ({exc.strerror or exc}); "
                "check that its folder belongs to this user and is not a link."
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._load(fd)
            seen = float(data.get("clock", 0.0))
            now = max(self.clock(), seen)
            result = body(data, now)
            if write or now > seen:
                data["clock"] = now
                self._prune(data, now)
                rewrite_whole(fd, json.dumps(data, separators=(",", ":")).encode("utf-8"))
            return result
        finally:
            os.close(fd)

    @staticmethod
    def _load(fd: int) -> dict[str, Any]:
        raw = read_whole(fd)
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            data = {}  # a torn or foreign file: start over rather than fail every approval
        if not isinstance(data, dict) or not isinstance(data.get("approvals"), dict):
            data = {"approvals": {}}
        return data

    @staticmethod
    def _prune(data: dict[str, Any], now: float) -> None:
        """Forget records long past their expiry: an unknown id is refused as surely as a used one."""
        approvals = data["approvals"]
        for key in [k for k, v in approvals.items() if float(v.get("expires", 0)) + KEEP_AFTER_EXPIRY < now]:
            del approvals[key]
