"""Keep Venice secrets out of results, logs and errors, and hand new ones over safely.

Promise 2 of the design: no secret reaches the model's context unless a caller asks for
it, and a new key's secret is never lost. `Scrubber` removes anything shaped like a
secret (and the literal secrets it has been told about); `install_log_scrubber` applies
it to every log record; `deliver_secret` writes a new key's secret to a private file
that nothing else can read or replace.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets as secrets_module
import stat
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel

from venice_keys_mcp.settings import env_name

from ._fs import WriteFailed, create_private_file, make_private_dirs
from .fencing import ELLIPSIS, _normalize, is_invisible

__all__ = [
    "REDACTED",
    "SECRET_PATTERN",
    "LogScrubber",
    "Scrubber",
    "SecretDeliveryError",
    "default_secrets_dir",
    "deliver_secret",
    "install_log_scrubber",
    "normalize",
]

REDACTED = "[REDACTED]"

#: A Venice ADMIN or INFERENCE secret. Deliberately greedy about the length: a fragment
#: of a secret is still a secret. (So setting names must not start `VENICE_ADMIN_KEY_`.)
#: This is the exact shape Venice issues; `Scrubber` matches a looser one (`LOOSE_SECRET`).
SECRET_PATTERN = re.compile(r"VENICE_(?:ADMIN|INFERENCE)_KEY_[A-Za-z0-9_-]+")

#: What may stand for `-` or `_` in a secret someone retyped: both, and the Unicode dashes
#: NFKC leaves alone (hyphen, non-breaking hyphen, figure/en/em dashes, minus sign).
_SEP = "[-_\u2010-\u2015\u2212]"
#: `SECRET_PATTERN` in any case and with `-`/`_` swapped anywhere: "venice-admin-key-..." is
#: the same secret to anyone who reads it back.
LOOSE_SECRET = re.compile(
    rf"(?i)venice{_SEP}(?:admin|inference){_SEP}key{_SEP}(?:[A-Za-z0-9]|{_SEP})+"
)

#: `Bearer <token>` as in an Authorization header (RFC 6750 token characters). Eight
#: characters at least, so prose such as "Bearer token required" survives.
BEARER_PATTERN = re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9._~+/-]{8,}=*")
#: `_SEP` in UTF-8, for matching folded bytes (`_fold`).
_SEP_BYTES = rb"(?:[-_]|\xe2\x80[\x90-\x95]|\xe2\x88\x92)"
#: `LOOSE_SECRET` for folded bytes: searching without IGNORECASE is several times faster,
#: and `contains_secret` runs on every result and log line.
_LOOSE_FOLDED = re.compile(
    rb"venice" + _SEP_BYTES + rb"(?:admin|inference)" + _SEP_BYTES + rb"key" + _SEP_BYTES
    + rb"(?:[a-z0-9]|" + _SEP_BYTES + rb")+"
)
#: Non-ASCII characters the server itself writes ("…", «», ‹›, dashes): text holding no
#: other is normalised as soon as it is, which `normalize` tests without a walk.
_OWN_PUNCTUATION = ("\u2026", "\u00ab", "\u00bb", "\u2039", "\u203a", "\u2014", "\u2013")

#: Literals shorter than this are ignored: they are not real secrets, and redacting them
#: would eat ordinary words.
MIN_LITERAL_LENGTH = 8

SECRETS_DIR_ENV = env_name("secrets_dir")

#: Control characters other than tab, newline and carriage return: on the ASCII path these
#: are all `normalize` has to remove.
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_KEPT_WHITESPACE = frozenset("\t\n\r")


def normalize(text: str) -> str:
    """The text a reader sees: NFKC, without control, zero-width, bidi or other invisible characters.

    A scrubber that matched the raw text missed a secret split by U+200B, a soft hyphen
    or a control character: a terminal, a host or a model reads straight through them,
    so the key is whole to them and only its head matched. Everything is matched after
    this, and what comes out is this text. Tabs and line breaks stay (they separate
    words and lines). The "…" the server writes survives (see `fencing._normalize`).

    Plain ASCII without control characters (almost everything a tool or a log says) is
    returned as it is after one C-speed test.
    """
    if not text.isascii():
        plain = text
        for ch in _OWN_PUNCTUATION:  # visible, and kept as they are (NFKC, or "…" by design)
            if ch in plain:
                plain = plain.replace(ch, "")
        if plain.isascii() and _printable(plain):
            return text
    if _printable(text):
        if text.isascii() or unicodedata.is_normalized("NFKC", text.replace(ELLIPSIS, "")):
            return text  # (removing "…" cannot hide a part NFKC would change)
    elif text.isascii():
        return _ASCII_CONTROL.sub("", text)
    for _ in range(4):  # removing a character can leave a pair NFKC would compose
        visible = text
        if not _printable(visible):
            visible = "".join(ch for ch in visible if ch in _KEPT_WHITESPACE or not is_invisible(ch))
        visible = _normalize(visible)
        if visible == text:
            break
        text = visible
    return text


def _printable(text: str) -> bool:
    """No invisible character in `text`, tested at C speed (tab and line breaks aside)."""
    return text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable()


def _fold(text: str) -> bytes:
    """`text` as UTF-8 with ASCII letters in lower case: what the IGNORECASE patterns see.

    Bytes, because lower-casing bytes is a C loop over ASCII only, several times faster
    than `str.lower` on non-ASCII text. IGNORECASE also reads "İ" and dotless "ı" as "i"
    (other such letters, like the Kelvin sign, NFKC has already folded), so they become "i".
    """
    if not text.isascii():
        for odd in ("\u0130", "\u0131"):
            if odd in text:
                text = text.replace(odd, "i")
    return text.encode("utf-8", "surrogatepass").lower()


def _folded_literal(secret: str) -> bytes:
    """`literal_pattern` for folded bytes (a non-ASCII character matches in its case forms)."""
    parts = []
    for ch in secret:
        if ch in "-_":
            parts.append(_SEP_BYTES)
        elif ch.isascii():
            parts.append(re.escape(ch.lower().encode()))
        else:
            forms = (re.escape(f.encode("utf-8", "surrogatepass")) for f in {ch, ch.lower(), ch.upper()})
            parts.append(b"(?:" + b"|".join(forms) + b")")
    return b"".join(parts)


def literal_pattern(secret: str) -> str:
    """A literal as a pattern that also matches it in another case or with `-`/`_` swapped."""
    return "".join(_SEP if ch in "-_" else re.escape(ch) for ch in secret)


def _longest_first(literals: Iterable[str]) -> list[str]:
    """Longest first, so a secret that contains another is removed whole."""
    return sorted(literals, key=len, reverse=True)


class Scrubber:
    """Replaces secret-shaped text and known literal secrets with ``[REDACTED]``.

    Literal secrets matter because the configured admin key or a key created a moment
    ago may not look like a Venice secret to the pattern (a test key, a future format).
    Every match is made on the normalised text (`normalize`), ignoring case and treating
    `-` and `_` as one: a secret re-typed, upper-cased or split by invisible characters is
    still the secret.
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._literals: frozenset[str] = frozenset()
        self._literal_re: re.Pattern[str] | None = None
        self._raw: frozenset[str] = frozenset()  # literals that normalising changes, as given
        self._raw_re: re.Pattern[str] | None = None
        self._folded_re: re.Pattern[bytes] | None = None  # `_literal_re` for folded bytes
        for secret in extra:
            self.add(secret)

    @property
    def literals(self) -> frozenset[str]:
        """The literal secrets registered so far (for handing them on to another scrubber)."""
        return self._literals | self._raw

    def add(self, secret: str | None) -> None:
        """Also redact this literal from now on (safe to call from any thread).

        What is matched is the literal's normalised form. A literal that normalising
        changes (it holds control or invisible characters itself) is also removed as
        written, before normalising, in case its visible part is too short to match alone.
        """
        if not secret or len(secret) < MIN_LITERAL_LENGTH:
            return
        normal = normalize(secret)
        with self._lock:
            if secret in self._literals or secret in self._raw:
                return
            # Readers use the patterns without the lock: reading one attribute is atomic,
            # so they see the old pattern or the new one, never half of one.
            if normal != secret:
                self._raw = self._raw | {secret}
                self._raw_re = re.compile("|".join(re.escape(s) for s in _longest_first(self._raw)))
            if len(normal) >= MIN_LITERAL_LENGTH and normal not in self._literals:
                self._literals = self._literals | {normal}
                alternation = "|".join(literal_pattern(s) for s in _longest_first(self._literals))
                self._literal_re = re.compile(alternation, re.IGNORECASE)
                self._folded_re = re.compile(
                    b"|".join(_folded_literal(s) for s in _longest_first(self._literals))
                )

    def scrub(self, text: str) -> str:
        """Return `text` with every secret replaced by ``[REDACTED]``.

        Matching runs on the normalised text; when it finds a secret, the normalised text
        (minus the secret) is what comes back. Text without one comes back unchanged, so a
        scrub never alters what it has no reason to.
        """
        raw_re = self._raw_re
        if raw_re is not None:
            text = raw_re.sub(REDACTED, text)
        normal = normalize(text)
        if not self._found(normal):
            return text
        out = normal
        literal_re = self._literal_re
        if literal_re is not None:
            out = literal_re.sub(REDACTED, out)
        out = LOOSE_SECRET.sub(REDACTED, SECRET_PATTERN.sub(REDACTED, out))
        out = BEARER_PATTERN.sub(r"\1" + REDACTED, out)
        return text if out == normal else out

    def scrub_except(self, text: str, allowed: Iterable[str]) -> str:
        """`scrub`, leaving the exact strings in `allowed` as they are (an explicit reveal).

        The allowed strings are swapped for marks made of letters and digits (which no
        normalisation touches and no pattern matches), the rest is scrubbed, and the marks
        are swapped back.
        """
        marks: dict[str, str] = {}
        for n, secret in enumerate(a for a in allowed if a):
            # "Bearer <allowed>" is marked whole: a mark after "Bearer" would look like a token.
            for found in set(re.findall(r"(?i)\bbearer\s+" + re.escape(secret), text)):
                mark = f"ALLOWEDMARK{n}B{len(marks)}X{_MARK_SALT}"
                marks[mark] = found
                text = text.replace(found, mark)
            mark = f"ALLOWEDMARK{n}X{_MARK_SALT}"
            marks[mark] = secret
            text = text.replace(secret, mark)
        text = self.scrub(text)
        for mark, secret in marks.items():
            text = text.replace(mark, secret)
        return text

    def contains_secret(self, text: str) -> bool:
        """True when `scrub` would change `text`: it holds a secret, seen through normalising."""
        raw_re = self._raw_re
        if raw_re is not None and raw_re.search(text):
            return True
        return self._found(normalize(text))

    def _found(self, normal: str) -> bool:
        """Whether normalised text holds a secret: matched on its folded copy, case-sensitively.

        The same matches as the IGNORECASE patterns `scrub` substitutes with, at a fraction
        of the cost, so text without a secret (nearly all) never pays for those.
        """
        low = _fold(normal)
        folded_re = self._folded_re
        return bool(
            (folded_re is not None and folded_re.search(low))
            or (b"venice" in low and _LOOSE_FOLDED.search(low))
            or (b"bearer" in low and BEARER_PATTERN.search(normal))
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


#: Random per process, so text cannot forge a mark and have a secret restored into it.
_MARK_SALT = secrets_module.token_hex(8)


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
    # One search over all of them first (joined by a line break, which no pattern crosses but
    # `\s`, and which normalising keeps): most records hold no secret, and scrubbing each
    # field with each pattern cost a tenth of a tool call.
    if scrubber.contains_secret("\n".join(strings.values())):
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
        try:
            create_private_file(dir_fd, name, content.encode("utf-8"))
        except FileExistsError as exc:
            raise SecretDeliveryError(
                f"{path} already exists; refusing to overwrite a secret file. Move it away and retry.", path
            ) from exc
        except WriteFailed as exc:  # removed again: a half-written file would look like a delivered secret
            raise SecretDeliveryError(f"could not write the secret to {path}: {_cause(exc)}", path) from exc
        except OSError as exc:
            raise SecretDeliveryError(f"could not create {path}: {_cause(exc)}", path) from exc
    finally:
        os.close(dir_fd)
    return path


def default_secrets_dir() -> Path:
    """Where new secrets go when `Settings.secrets_dir` is unset: the per-user data directory."""
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
