"""Small filesystem helpers shared by the secret files and the audit log."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


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


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
