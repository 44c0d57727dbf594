"""The HTTP bearer token in force: `VENICE_KEYS_HTTP_TOKEN`, else one the server made and kept.

HTTP always needs a bearer token (Jupyter's model): loopback is no boundary between the
users of one machine, and one of them could otherwise list keys, reveal secrets and
answer the confirmation forms. Without `VENICE_KEYS_HTTP_TOKEN` the server makes a token
(`secrets.token_urlsafe(32)`) and keeps it in a 0600 file in the per-user state folder,
reused across restarts so a host's configuration stays valid; the sandbox keeps its own
file, so the two never share a token. `--no-auth` (loopback only) is the one way out.

Kept apart from `http_auth` so resolving the token before binding the port costs no
Starlette or SDK import.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from venice_keys_mcp.safety._fs import WriteFailed, create_private_file, make_private_dirs
from venice_keys_mcp.settings import MIN_HTTP_TOKEN_CHARS, Settings

APP_NAME = "venice-keys-mcp"
#: One file per kind of server, so a sandbox never shares the real server's token.
TOKEN_FILE_NAMES = {False: "http-token", True: "sandbox-http-token"}


class TokenFileError(ValueError):
    """The token file cannot be trusted or made; the message is one line a person can act on."""


@dataclass(frozen=True)
class HttpToken:
    """The bearer token in force, and the file it lives in when the server generated it."""

    value: str = field(repr=False)
    file: Path | None  # None: it came from VENICE_KEYS_HTTP_TOKEN


def token_file(sandbox: bool, state_dir: Path | None = None) -> Path:
    """Where the generated token lives: the state folder (VENICE_KEYS_STATE_DIR, else the per-user
    one), one name for the sandbox, one for real."""
    return (state_dir or platformdirs.user_state_path(APP_NAME)) / TOKEN_FILE_NAMES[sandbox]


def resolve_token(settings: Settings) -> HttpToken | None:
    """The token HTTP requests must carry: the configured one, else the kept one (made on first use).

    None only with `--no-auth`, which settings allow on loopback alone.
    """
    if settings.no_auth:
        return None
    if settings.http_token is not None:
        return HttpToken(settings.http_token.get_secret_value(), None)
    path = token_file(settings.sandbox, settings.state_dir)
    return HttpToken(load_or_create_token(path), path)


def load_or_create_token(path: Path) -> str:
    """Read the token kept at `path`, or make one there (0600, in a 0700 folder that is ours).

    The file is opened with O_NOFOLLOW and made with O_CREAT|O_EXCL, so a symlink planted
    at `path` is refused, never followed; a file that another user owns, or that others
    may read, is refused too (its token may be known). Two servers starting at once agree:
    the loser of the O_EXCL race reads the winner's file.
    """
    dir_fd = _open_state_dir(path.parent)
    try:
        for _ in range(3):
            try:
                return _read_token(path, dir_fd)
            except FileNotFoundError:
                pass
            token = secrets.token_urlsafe(32)
            try:
                _create_token(path, dir_fd, token)
            except FileExistsError:
                continue  # another server made it (or a link appeared): read, and refuse, it above
            return token
        raise TokenFileError(f"could not create the HTTP token file {path}: it keeps appearing and vanishing")
    finally:
        os.close(dir_fd)


def _open_state_dir(directory: Path) -> int:
    try:
        make_private_dirs(directory)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        reason = "it is a symlink" if exc.errno == errno.ELOOP else (exc.strerror or type(exc).__name__)
        raise TokenFileError(
            f"cannot use the state folder {directory} for the HTTP token: {reason}"
        ) from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise TokenFileError(
                f"the state folder {directory} belongs to uid {info.st_uid}, not to this user; "
                "refusing to keep the HTTP token there (set VENICE_KEYS_HTTP_TOKEN instead)"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_token(path: Path, dir_fd: int) -> str:
    try:
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TokenFileError(
                f"the HTTP token file {path} is a symlink; refusing to follow it. Remove it and restart."
            ) from None
        raise TokenFileError(f"cannot read the HTTP token file {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TokenFileError(f"the HTTP token file {path} is not a regular file; remove it and restart.")
        if info.st_uid != os.geteuid():
            raise TokenFileError(
                f"the HTTP token file {path} belongs to uid {info.st_uid}, not to this user; "
                "refusing a token someone else chose. Remove it and restart."
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise TokenFileError(
                f"the HTTP token file {path} has mode {stat.S_IMODE(info.st_mode):04o}: others could read "
                "the token. Remove the file and restart to get a new one."
            )
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    token = raw.decode("ascii", "replace").strip()
    if len(token) < MIN_HTTP_TOKEN_CHARS or not (token.isascii() and token.isprintable()) or " " in token:
        raise TokenFileError(
            f"the HTTP token file {path} holds no usable token; remove it and restart to get a new one."
        )
    return token


def _create_token(path: Path, dir_fd: int, token: str) -> None:
    try:
        create_private_file(dir_fd, path.name, (token + "\n").encode("ascii"))
    except FileExistsError:
        raise
    except WriteFailed as exc:  # removed again: a half-written file would be refused at the next start
        raise TokenFileError(f"cannot write the HTTP token file {path}: {exc.strerror or exc}") from None
    except OSError as exc:
        raise TokenFileError(f"cannot create the HTTP token file {path}: {exc.strerror or exc}") from None
