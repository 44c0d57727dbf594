"""Keep Venice secrets out of results, logs and errors, and hand new ones over safely.

Promise 2 of the design: no secret reaches the model's context unless a caller asks for
it, and a new key's secret is never lost. `Scrubber` removes anything shaped like a
secret (and the literal secrets it has been told about); `install_log_scrubber` applies
it to every log record; `deliver_secret` writes a new key's secret to a private file
that nothing else can read or replace.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel

from ._fs import make_private_dirs, write_all

__all__ = [
    "REDACTED",
    "SECRET_PATTERN",
    "LogScrubber",
    "Scrubber",
    "SecretDeliveryError",
    "default_secrets_dir",
    "deliver_secret",
    "install_log_scrubber",
]

REDACTED = "[REDACTED]"

#: A Venice ADMIN or INFERENCE secret. Deliberately greedy about the length: a fragment
#: of a secret is still a secret. (So setting names must not start `VENICE_ADMIN_KEY_`.)
SECRET_PATTERN = re.compile(r"VENICE_(?:ADMIN|INFERENCE)_KEY_[A-Za-z0-9_-]+")

#: `Bearer <token>` as in an Authorization header (RFC 6750 token characters). Eight
#: characters at least, so prose such as "Bearer token required" survives.
BEARER_PATTERN = re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9._~+/-]{8,}=*")
#: The word alone, with the same flags: a quick test that lets most text skip `BEARER_PATTERN`,
#: whose leading `\b` makes a search about three times slower (0.15 ms on a 5 KB answer).
_BEARER_WORD = re.compile(r"(?i)bearer")

#: Literals shorter than this are ignored: they are not real secrets, and redacting them
#: would eat ordinary words.
MIN_LITERAL_LENGTH = 8

SECRETS_DIR_ENV = "VENICE_KEYS_SECRETS_DIR"


class Scrubber:
    """Replaces secret-shaped text and known literal secrets with ``[REDACTED]``.

    Literal secrets matter because the configured admin key or a key created a moment
    ago may not look like a Venice secret to the pattern (a test key, a future format).
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._literals: frozenset[str] = frozenset()
        self._literal_re: re.Pattern[str] | None = None
        for secret in extra:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Also redact this literal from now on (safe to call from any thread)."""
        if not secret or len(secret) < MIN_LITERAL_LENGTH:
            return
        with self._lock:
            if secret in self._literals:
                return
            literals = self._literals | {secret}
            # Longest first, so a secret that contains another is removed whole.
            alternation = "|".join(re.escape(s) for s in sorted(literals, key=len, reverse=True))
            # Readers use `_literal_re` without the lock: reading one attribute is atomic,
            # so they see the old pattern or the new one, never half of one.
            self._literals = literals
            self._literal_re = re.compile(alternation)

    def scrub(self, text: str) -> str:
        """Return `text` with every secret replaced by ``[REDACTED]``."""
        literal_re = self._literal_re
        if literal_re is not None:
            text = literal_re.sub(REDACTED, text)
        text = SECRET_PATTERN.sub(REDACTED, text)
        if _BEARER_WORD.search(text) is None:
            return text
        return BEARER_PATTERN.sub(r"\1" + REDACTED, text)

    def contains_secret(self, text: str) -> bool:
        """True when `scrub` would change `text`: a Venice secret, a known literal or a bearer token."""
        literal_re = self._literal_re
        return bool(
            (literal_re is not None and literal_re.search(text))
            or SECRET_PATTERN.search(text)
            or (_BEARER_WORD.search(text) and BEARER_PATTERN.search(text))
        )

    def scrub_obj(self, obj: Any) -> Any:
        """Return a scrubbed copy of strings inside dicts, lists, tuples, sets and models.

        Pydantic models come back as models of the same type (fields replaced without
        re-validation), so a tool can scrub its typed result and still return it.
        Other values (numbers, dates, None) are returned unchanged.
        """
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, BaseModel):
            return self._scrub_model(obj)
        if isinstance(obj, Mapping):
            return {self.scrub_obj(k): self.scrub_obj(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.scrub_obj(v) for v in obj]
        if isinstance(obj, tuple):
            items = [self.scrub_obj(v) for v in obj]
            return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
        if isinstance(obj, set | frozenset):
            return type(obj)(self.scrub_obj(v) for v in obj)
        return obj

    def _scrub_model(self, model: BaseModel) -> BaseModel:
        update = {name: self.scrub_obj(getattr(model, name)) for name in type(model).model_fields}
        if model.__pydantic_extra__:
            update.update({k: self.scrub_obj(v) for k, v in model.__pydantic_extra__.items()})
        return model.model_copy(update=update)


# -- logging ---------------------------------------------------------------------------

_EXCEPTION_FORMATTER = logging.Formatter()


def _scrub_record(record: logging.LogRecord, scrubber: Scrubber) -> None:
    """Scrub a record in place: message with its arguments, traceback, stack, extras."""
    if record.args or not isinstance(record.msg, str):
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record, nor leak it
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = message, None
    if record.exc_info and record.exc_info[0] is not None:
        # Render the traceback now and drop exc_info: a handler that formats exc_info
        # itself would otherwise print the exception's unscrubbed message.
        record.exc_text = _EXCEPTION_FORMATTER.formatException(record.exc_info)
        record.exc_info = None
    strings = {name: value for name, value in vars(record).items() if isinstance(value, str)}
    # One search over all of them first (NUL-joined: no pattern matches across it): most records
    # hold no secret, and scrubbing each field with each pattern cost a tenth of a tool call.
    if scrubber.contains_secret("\x00".join(strings.values())):
        for name, value in strings.items():
            setattr(record, name, scrubber.scrub(value))


_installed: list[LogScrubber] = []


class LogScrubber(logging.Filter):
    """A logging filter that scrubs every record it sees; installed by `install_log_scrubber`."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber
        self._active = True
        self._previous_factory: Callable[..., logging.LogRecord] | None = None
        self._factory: Callable[..., logging.LogRecord] | None = None
        self._handlers: list[logging.Handler] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self._active:
            _scrub_record(record, self.scrubber)
        return True

    def uninstall(self) -> None:
        """Remove the filter everywhere it was added and stop scrubbing new records."""
        self._active = False
        if self in _installed:
            _installed.remove(self)
        root = logging.getLogger()
        root.removeFilter(self)
        for handler in self._handlers:
            handler.removeFilter(self)
        self._handlers.clear()
        if self._factory is not None and logging.getLogRecordFactory() is self._factory:
            assert self._previous_factory is not None
            logging.setLogRecordFactory(self._previous_factory)


def install_log_scrubber(scrubber: Scrubber) -> LogScrubber:
    """Scrub every log record, from any logger, for handlers present now or added later.

    Filters on a logger only see records logged to that very logger, not those that
    propagate from children, so the work happens in a log-record factory (every record
    passes through it once it clears its logger's level). The same filter also sits on
    the root logger and its current handlers, to catch fields (`extra=...`) that are set
    after the factory runs.
    """
    for existing in _installed:
        if existing.scrubber is scrubber and existing._active:
            return existing  # installing twice would scrub every record twice
    log_filter = LogScrubber(scrubber)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if log_filter._active:
            _scrub_record(record, scrubber)
        return record

    log_filter._previous_factory, log_filter._factory = previous, factory
    logging.setLogRecordFactory(factory)
    root = logging.getLogger()
    root.addFilter(log_filter)
    for handler in list(root.handlers):
        handler.addFilter(log_filter)
        log_filter._handlers.append(handler)
    _installed.append(log_filter)
    return log_filter


# -- delivering a new key's secret -----------------------------------------------------


class SecretDeliveryError(Exception):
    """The secret could not be written to its file; the message names the path, never the secret."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def _file_name(key_id: str) -> str:
    safe = _UNSAFE_NAME_CHARS.sub("_", key_id)[:128]
    if not safe.strip("."):
        raise SecretDeliveryError(f"cannot name a secret file after the key id {key_id!r}")
    return f"{safe}.key"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _cause(exc: OSError) -> str:
    # strerror, not str(exc): the latter can carry arbitrary filenames and arguments.
    return exc.strerror or type(exc).__name__


def _open_private_dir(directory: Path) -> int:
    """Open `directory` as ours and at most 0700, or refuse with a reason."""
    try:
        make_private_dirs(directory)
        info = os.lstat(directory)
    except OSError as exc:
        raise SecretDeliveryError(
            f"could not create the secrets directory {directory}: {_cause(exc)}", directory
        ) from exc
    if stat.S_ISLNK(info.st_mode):
        raise SecretDeliveryError(
            f"the secrets directory {directory} is a symlink; refusing to follow it. "
            f"Point {SECRETS_DIR_ENV} at a real directory.",
            directory,
        )
    if not stat.S_ISDIR(info.st_mode):
        raise SecretDeliveryError(f"the secrets directory {directory} is not a directory", directory)
    try:
        # O_NOFOLLOW closes the gap between the lstat above and this open.
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        reason = "it is a symlink" if exc.errno == errno.ELOOP else _cause(exc)
        raise SecretDeliveryError(
            f"could not open the secrets directory {directory}: {reason}", directory
        ) from exc
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise SecretDeliveryError(
                f"the secrets directory {directory} belongs to uid {info.st_uid}, not to this user "
                f"(uid {os.geteuid()}); another user could read the secrets. "
                f"Set {SECRETS_DIR_ENV} to a directory you own.",
                directory,
            )
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    except OSError as exc:
        os.close(fd)
        raise SecretDeliveryError(
            f"could not make the secrets directory {directory} private: {_cause(exc)}", directory
        ) from exc
    except BaseException:
        os.close(fd)
        raise
    return fd


def deliver_secret(
    directory: Path, key_id: str, secret: str, *, meta: Mapping[str, str] | None = None
) -> Path:
    """Write a new key's secret to a new file `<directory>/<key_id>.key` and return its path.

    The file is created exclusively (an existing file is never overwritten), mode 0600,
    in a 0700 directory that belongs to this user, and is fsynced with its directory
    before this returns, so a caller that reports the path can be sure the secret is
    there. On any failure nothing is left behind and `SecretDeliveryError` says why;
    the caller should then revoke the key, since nobody else will ever see its secret.
    """
    directory = Path(directory)
    name = _file_name(key_id)
    path = directory / name
    if not secret or "\n" in secret or "\r" in secret:
        raise SecretDeliveryError(
            f"refusing to write {path}: the secret is empty or spans several lines", path
        )

    # Comment lines carry context only; scrub them so no other secret lands in the file.
    scrubber = Scrubber([secret])
    lines = [secret, f"# key_id: {key_id}", f"# created: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"]
    lines += [f"# {_one_line(k)}: {_one_line(v)}" for k, v in (meta or {}).items()]
    content = "\n".join([lines[0], *(scrubber.scrub(_one_line(line)) for line in lines[1:])]) + "\n"

    dir_fd = _open_private_dir(directory)
    try:
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        except FileExistsError as exc:
            raise SecretDeliveryError(
                f"{path} already exists; refusing to overwrite a secret file. Move it away and retry.", path
            ) from exc
        except OSError as exc:
            raise SecretDeliveryError(f"could not create {path}: {_cause(exc)}", path) from exc
        try:
            try:
                os.fchmod(fd, 0o600)  # the umask may have removed bits we need
                write_all(fd, content.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.fsync(dir_fd)
        except OSError as exc:
            # A half-written file would look like a delivered secret; remove it.
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
            raise SecretDeliveryError(f"could not write the secret to {path}: {_cause(exc)}", path) from exc
    finally:
        os.close(dir_fd)
    return path


def default_secrets_dir() -> Path:
    """Where new secrets go: `VENICE_KEYS_SECRETS_DIR`, else the per-user data directory."""
    configured = os.environ.get(SECRETS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return platformdirs.user_data_path("venice-keys-mcp") / "secrets"


def read_delivered_secret(path: Path) -> str:
    """The secret in a file `deliver_secret` wrote, for showing it to a person (card or terminal).

    Opened without following links and only if it is a private file of this user, as it
    was written: a file swapped for a link or loosened since is not read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise SecretDeliveryError(
                f"{path} is no longer a private file of this user; not reading it", path
            )
        size = st.st_size
        data = os.pread(fd, min(size, 65536), 0)
    finally:
        os.close(fd)
    first = data.decode("utf-8", "replace").split("\n", 1)[0].strip()
    if not first:
        raise SecretDeliveryError(f"{path} holds no secret", path)
    return first
