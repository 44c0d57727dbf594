"""Small filesystem helpers for the secret files, the audit log and every other file the server writes."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

__all__ = [
    "UnsafeFileError",
    "fsync_dir",
    "make_private_dirs",
    "open_private",
    "open_state_file",
    "read_whole",
    "rewrite_whole",
    "write_all",
]


class UnsafeFileError(OSError):
    """A file the server keeps was not safe to use: a symlink, not a regular file, or someone else's.

    An `OSError`, so callers that already report `OSError` (with its `strerror`) say why
    in one sentence; `strerror` names the path and what to do.
    """


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """Open a file this server owns and keeps private; return the descriptor. Use it for EVERY file we write.

    The file must be a regular file owned by this user (and, when opened for writing,
    with no second hard link, which could be another file's name); a symlink at
    `path` is never followed (``O_NOFOLLOW``), so a link planted where the audit log or a
    state file should be cannot make the server append to, truncate or chmod another
    file (the victim is left as it was). A FIFO or device is refused without blocking
    (``O_NONBLOCK``). Bits beyond `mode` (group or world access) are removed with
    ``fchmod``. `flags` are the usual ``os.O_*`` flags (``O_CREAT`` creates with `mode`);
    ``O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC`` are always added.

    Only the last path component is protected: a symlinked parent directory (a common
    way to relocate ~/.local/state) is followed, as the person who made it intended.

    Raises `UnsafeFileError` (an `OSError`) with a sentence saying what is wrong, or the
    `OSError` of the open itself (missing file, no permission).
    """
    path = Path(path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(
                errno.ELOOP, f"{path} is a symlink; refusing to follow it (move the link away)", str(path)
            ) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(
                errno.EINVAL, f"{path} is not a regular file; refusing to use it", str(path)
            )
        if info.st_uid != os.geteuid():
            raise UnsafeFileError(
                errno.EPERM,
                f"{path} belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()}); "
                "refusing to use a file another user controls",
                str(path),
            )
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        if writing and info.st_nlink != 1:
            raise UnsafeFileError(
                errno.EMLINK,
                f"{path} has {info.st_nlink} hard links; refusing to write a file that is also another file",
                str(path),
            )
        if stat.S_IMODE(info.st_mode) & ~mode:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents with mode 0700 (existing ones are left alone).

    `Path.mkdir(parents=True)` gives new parents the umask's default mode, which would
    leave a world-readable directory on the way to a private one.
    """
    missing: list[Path] = []
    current = Path(directory)
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        # Another process may make it first; callers check what they got.
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte: `os.write` may write less than asked (signals, some filesystems)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def open_state_file(path: Path) -> int:
    """Open, creating it (0600, in 0700 folders), a file the server appends to or rewrites under `flock`."""
    make_private_dirs(path.parent)
    return open_private(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)


def read_whole(fd: int) -> bytes:
    """The whole file, read once (the caller holds its lock)."""
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def rewrite_whole(fd: int, data: bytes) -> None:
    """Replace the file's contents with `data`, durably (the caller holds the exclusive lock)."""
    os.ftruncate(fd, 0)
    write_all(fd, data)
    os.fsync(fd)


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteFailed(OSError):
    """A new file was created but could not be written whole; it has been removed again."""


def create_private_file(dir_fd: int, name: str, data: bytes) -> None:
    """Create `name` in the open folder `dir_fd` exclusively (0600, never through a link), write
    `data` and fsync the file and the folder, so a caller that reports the file can rely on it.

    Raises `FileExistsError` if the name is taken (nothing is overwritten), the `OSError` of
    the create itself, or `WriteFailed` (from the write or fsync) after removing the
    half-written file: a partial secret or token must not look like a whole one.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask may have taken bits away, never added: belt and braces
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.fsync(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dir_fd)
        raise WriteFailed(exc.errno, exc.strerror or str(exc)) from exc
