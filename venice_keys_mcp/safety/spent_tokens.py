"""Which confirmation tokens were already used, shared by every process that signs with one key.

A token is single use. One process remembers the nonces it consumed, but with a
configured `VENICE_KEYS_SIGNING_KEY` a token is also valid in the next process (after a
restart) and in a sibling instance, which would each accept it once more. This file,
kept in the state folder and locked with `fcntl.flock`, makes "used" mean used
everywhere that shares it; a token names the file it must be spent in (see `tokens`), so
an instance with another state folder refuses it rather than accept it a second time.
It holds only nonces and expiry times, never a token, and forgets a nonce once its token
has expired (an expired token is refused anyway). It also keeps the latest clock reading
it has seen, so a clock stepped back cannot make an expired, forgotten token live again.

Format: one ``<exp unix seconds> <nonce>`` per line, and one ``clock <unix seconds>`` line.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ._fs import open_state_file, read_whole, rewrite_whole

__all__ = ["SpentTokens"]


class SpentTokens:
    """A small file of used nonces; `spend` is atomic across processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def seen(self, nonce: str, now: float) -> bool:
        """Whether a token with this nonce was already used (and has not expired)."""
        fd = open_state_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return nonce in _live(_lines(fd), now)
        finally:
            os.close(fd)

    def latest(self, now: float) -> float:
        """`now`, or the latest clock reading this file recorded if that is later."""
        fd = open_state_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return max(now, _clock(_lines(fd)))
        finally:
            os.close(fd)

    def spend(self, nonce: str, exp: int, now: float) -> bool:
        """Mark the nonce used; False if it already was. Raises OSError if the file cannot be written."""
        fd = open_state_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            lines = _lines(fd)
            now = max(now, _clock(lines))
            live = _live(lines, now)
            if nonce in live:
                return False
            # Rewritten whole each time: the expired nonces go, the clock line moves on.
            body = b"".join(f"{e} {n}\n".encode() for n, e in live.items())
            rewrite_whole(fd, f"clock {now:.3f}\n".encode() + body + f"{exp} {nonce}\n".encode())
            return True
        finally:
            os.close(fd)


def _lines(fd: int) -> list[str]:
    """The whole file's lines, read once under the caller's lock."""
    return read_whole(fd).decode("ascii", "replace").splitlines()


def _clock(lines: list[str]) -> float:
    for line in lines:
        word, _, value = line.partition(" ")
        if word == "clock":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 0.0


def _live(lines: list[str], now: float) -> dict[str, int]:
    """Nonce -> expiry for every unexpired line (a torn line is skipped)."""
    live: dict[str, int] = {}
    for line in lines:
        exp, _, nonce = line.partition(" ")
        if exp.isdigit() and nonce and int(exp) > now:
            live[nonce] = int(exp)
    return live
