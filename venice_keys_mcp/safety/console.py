"""What the command line prints goes through the scrubber: one chokepoint for every line.

`doctor`, the banner, a settings error, `audit verify` and the sandbox command each
printed through their own `print`, and a secret in the wrong place (a base URL with a
password, a key pasted into another variable) came back in clear. `scrubbed_output`
replaces `sys.stdout` and `sys.stderr` for the whole command with streams that scrub each
line with the same `Scrubber` as results and logs (log handlers write to the same
stream, so they pass it too), so no print can bypass it. Only the bytes an MCP
transport writes to `sys.stdout.buffer` (the protocol itself, scrubbed by the result
middleware, with its explicit reveals) do not pass through here.

`display_url` is how any URL is shown to a person: without userinfo, query or fragment.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from venice_keys_mcp.safety.secrets import Scrubber
from venice_keys_mcp.settings import secret_env_values

__all__ = ["ScrubbingStream", "allow", "display_url", "env_secrets", "scrubbed_output", "url_secrets", "use"]



class ScrubbingStream(io.TextIOBase):
    """A text stream that scrubs whole lines before they reach `inner`.

    Lines are held until their line break (or a flush), so a secret written in two
    pieces by one `print` is still matched whole.
    """

    def __init__(self, inner: TextIO, console: _Console) -> None:
        super().__init__()
        self._inner = inner
        self._console = console
        self._pending = ""
        self._lock = threading.Lock()  # a print and a log line from two threads must not tear a line

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                lines, _, self._pending = self._pending.rpartition("\n")
                self._inner.write(self._console.scrub(lines + "\n"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                pending, self._pending = self._pending, ""
                self._inner.write(self._console.scrub(pending))
        self._inner.flush()

    @property
    def buffer(self) -> Any:
        """The raw byte stream, for an MCP transport's protocol messages (not scrubbed here)."""
        return self._inner.buffer

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._inner.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._inner.errors

    def fileno(self) -> int:
        return self._inner.fileno()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def writable(self) -> bool:
        return True


class _Console:
    """The scrubber the streams use, and the few strings a command prints on purpose."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber
        self.allowed: set[str] = set()

    def scrub(self, text: str) -> str:
        if self.allowed:
            return self.scrubber.scrub_except(text, self.allowed)
        return self.scrubber.scrub(text)


_current: _Console | None = None


@contextlib.contextmanager
def scrubbed_output(scrubber: Scrubber) -> Iterator[Scrubber]:
    """Scrub everything written to `sys.stdout` and `sys.stderr` until the block ends."""
    global _current
    console = _Console(scrubber)
    previous = (_current, sys.stdout, sys.stderr)
    _current = console
    if sys.stdout is not None:
        sys.stdout = ScrubbingStream(sys.stdout, console)  # type: ignore[assignment]
    if sys.stderr is not None:
        sys.stderr = ScrubbingStream(sys.stderr, console)  # type: ignore[assignment]
    try:
        yield scrubber
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, ScrubbingStream):
                with contextlib.suppress(Exception):
                    stream.flush()
        _current, sys.stdout, sys.stderr = previous


def use(scrubber: Scrubber) -> None:
    """From now on scrub printed lines with `scrubber` (the runtime's), which learns what the old one knew.

    The runtime's scrubber learns each secret the server creates, so the banner, logs and
    any late line are scrubbed with everything this process has seen.
    """
    if _current is None or _current.scrubber is scrubber:
        return
    for literal in _current.scrubber.literals:
        scrubber.add(literal)
    _current.scrubber = scrubber


def allow(*secrets: str) -> None:
    """Let these exact strings be printed: only for the sandbox's public demo credentials."""
    if _current is not None:
        _current.allowed.update(s for s in secrets if s)


def env_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret the environment (default `os.environ`) holds: the secret settings'
    variables (`settings.SECRET_FIELDS`) and the base URL's credentials."""
    found, base_url = secret_env_values(env)
    return found + url_secrets(base_url)


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be credentials: userinfo and every query value."""
    try:
        parts = urlsplit(url.strip())
        found = [parts.username or "", parts.password or ""]
    except ValueError:
        return []
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
    return [s for s in found if s]


def display_url(url: str) -> str:
    """`url` as shown to a person: scheme, host, port and path only (no userinfo, query or fragment)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
