"""A second, independent copy of the audit trail: every entry also goes to the local syslog.

The audit log is a file the server's user can write, and so can anything running as that
user (an agent with shell access, say). With the audit syslog setting on, each entry is
also sent to syslog/journald, which keeps it where that user cannot rewrite it; `audit
verify` names this copy as the record that survives someone holding the audit key.

Sending never breaks a write: the log file is the record the server depends on, so a
syslog that is down, full or missing costs only the copy, and is logged once (not once
per entry). Uses the standard library's `SysLogHandler`, directly, not through the
logging tree, so other handlers never see audit lines and the entry text goes out as is.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import sys
import threading

from venice_keys_mcp.settings import parse_syslog_target

__all__ = ["SyslogSink", "default_syslog_address", "parse_syslog_address"]

_log = logging.getLogger(__name__)

#: Seconds a send may wait for a busy syslog before the copy is given up (a write must not hang).
SEND_TIMEOUT = 1.0

Address = str | tuple[str, int]


def default_syslog_address() -> Address:
    """The local syslog socket, ``/dev/log`` (journald and rsyslog on Linux), else UDP localhost:514."""
    return "/dev/log" if os.path.exists("/dev/log") else ("localhost", 514)


def parse_syslog_address(value: str) -> Address:
    """The audit syslog setting as an address: ``1`` the local syslog, a path a unix socket, host:port UDP.

    The rule lives in `settings.parse_syslog_target` (its ValueError names the rule, never
    the value); this resolves "the local syslog" to this machine's socket.
    """
    target = parse_syslog_target(value)
    return default_syslog_address() if target is None else target


class _Handler(logging.handlers.SysLogHandler):
    """`SysLogHandler` whose sends time out, and whose errors go to the sink instead of stderr."""

    def __init__(self, sink: SyslogSink, address: Address) -> None:
        self._sink = sink
        super().__init__(address=address, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)

    def createSocket(self) -> None:
        super().createSocket()
        if self.socket is not None:
            self.socket.settimeout(SEND_TIMEOUT)

    def _connect_unixsocket(self, address: str) -> None:
        super()._connect_unixsocket(address)
        self.socket.settimeout(SEND_TIMEOUT)

    def handleError(self, record: logging.LogRecord) -> None:
        self._sink._failed(sys.exc_info()[1])


class SyslogSink:
    """Sends audit lines to syslog with the tag ``venice-keys-mcp``, facility authpriv, level info."""

    def __init__(self, address: Address | None = None) -> None:
        self.address: Address = address if address is not None else default_syslog_address()
        self._handler: _Handler | None = None
        self._lock = threading.Lock()
        self._warned = False

    def send(self, text: str) -> None:
        """Send one line; never raises (a failure is logged once per process)."""
        with self._lock:
            try:
                if self._handler is None:
                    self._handler = _Handler(self, self.address)
                    self._handler.ident = f"venice-keys-mcp[{os.getpid()}]: "
                    self._handler.append_nul = False  # the line as written; journald and rsyslog need no NUL
                record = logging.LogRecord("audit", logging.INFO, __file__, 0, text, None, None)
                self._handler.emit(record)  # errors reach `_failed` through handleError
            except (OSError, socket.gaierror) as exc:  # the handler's constructor resolves a UDP host
                self._failed(exc)

    def _failed(self, exc: BaseException | None) -> None:
        if self._warned:
            return
        self._warned = True
        reason = (getattr(exc, "strerror", None) or str(exc)) if exc is not None else "unknown error"
        _log.warning(
            "could not send audit entries to syslog at %s: %s; the audit log file still has every entry "
            "(this is said once)",
            self.address,
            reason,
        )

    def close(self) -> None:
        with self._lock:
            if self._handler is not None:
                self._handler.close()
                self._handler = None
