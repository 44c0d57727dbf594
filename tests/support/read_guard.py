"""Fail the test session if anything reads outside the clone it runs from.

A user's clone sits in a folder of its own; anything the suite reads from beside it (a
reference folder next to the checkout, a sibling checkout) exists only on the machine that wrote the test,
so the suite would pass there and fail for everyone else. This guard makes that a CI
failure instead of a newcomer's surprise.

How: a Python audit hook (`sys.addaudithook`) sees every `open`, `os.listdir` and
`os.scandir` the interpreter makes, including those of libraries. A path under the
clone's parent folder but outside the clone is recorded; at the end of the session the
records are listed and the session fails. Subprocesses (the server processes many tests
spawn) are covered too: the guard puts a `sitecustomize.py` first on `PYTHONPATH`, which
installs the same hook there and appends to a shared record file.

Enabled by `CLONE_READ_GUARD=1` (`.ci/run` sets it). `CLONE_READ_GUARD_ROOT`
names the clone (default: this repository) so the guard itself can be tested on a folder
of the test's making. Deliberately free of imports from the project: it must load in any
Python, before anything else.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ENABLE_ENV = "CLONE_READ_GUARD"
ROOT_ENV = "CLONE_READ_GUARD_ROOT"
RECORD_ENV = "CLONE_READ_GUARD_RECORD"
_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
_SITECUSTOMIZE = """\
# Written by tests/support/read_guard.py: the read guard, in every Python the tests start.
import sys
sys.path.insert(0, {support!r})
try:
    import read_guard
    read_guard.install_from_env()
finally:
    sys.path.remove({support!r})
"""


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Guard:
    """Records reads under `root`'s parent that are not under `root`."""

    def __init__(self, root: str, record_file: str | None = None) -> None:
        self.root = os.path.realpath(root)
        self.parent = os.path.dirname(self.root)
        self.record_file = record_file
        self.seen: list[str] = []
        # Reads that are not the suite's business even when they sit beside the clone: the
        # Python in use (a venv next to the clone) and its packages, temporary files and the
        # user's caches. A place that contains the clone is never excused wholesale.
        home = os.path.expanduser("~")
        places = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir()}
        places.update(os.path.join(home, d) for d in (".cache", ".local", ".npm", ".config"))
        places.update(p for p in sys.path if "site-packages" in p)
        self.excused = tuple(
            real for real in {os.path.realpath(p) for p in places if p} if not _is_under(self.root, real)
        )
        self._local = threading.local()  # per thread: a guard busy in one thread must not blind another

    def check(self, path: object) -> None:
        if isinstance(path, int) or path is None:
            return  # a file descriptor: its path was checked when it was opened
        try:
            raw = os.fsdecode(path)  # type: ignore[arg-type]
        except TypeError:
            return
        full = os.path.realpath(os.path.join(os.getcwd(), raw) if not os.path.isabs(raw) else raw)
        if not _is_under(full, self.parent) or _is_under(full, self.root):
            return
        if any(_is_under(full, place) for place in self.excused):
            return
        if full not in self.seen:
            self.seen.append(full)
            if self.record_file:
                with open(self.record_file, "a", encoding="utf-8") as out:
                    out.write(f"{full}\t{os.getpid()}\t{' '.join(sys.argv)[:200]}\n")

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        if event not in _EVENTS or getattr(self._local, "busy", False):
            return
        self._local.busy = True  # realpath and the record file raise events of their own
        try:
            self.check(args[0] if args else None)
        except Exception:  # a guard must never break the code it watches
            pass
        finally:
            self._local.busy = False


_installed: Guard | None = None


def install(root: str, record_file: str | None = None) -> Guard:
    """Install the hook once per process (audit hooks cannot be removed)."""
    global _installed
    if _installed is None:
        _installed = Guard(root, record_file)
        sys.addaudithook(_installed.hook)
    return _installed


def install_from_env() -> Guard | None:
    """In a subprocess: install if the parent session asked for it."""
    root, record = os.environ.get(ROOT_ENV), os.environ.get(RECORD_ENV)
    if os.environ.get(ENABLE_ENV) != "1" or not root or not record:
        return None
    return install(root, record)


class ReadGuardPlugin:
    """The pytest side: install the hook, hand it to subprocesses, fail the session on a read."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.workdir = tempfile.mkdtemp(prefix="read-guard-")
        self.record = os.path.join(self.workdir, "outside-reads.tsv")
        Path(self.record).touch()
        site_dir = os.path.join(self.workdir, "site")
        os.mkdir(site_dir)
        support = os.path.dirname(os.path.abspath(__file__))
        Path(site_dir, "sitecustomize.py").write_text(_SITECUSTOMIZE.format(support=support))
        os.environ[ROOT_ENV] = self.root
        os.environ[RECORD_ENV] = self.record
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [site_dir, os.environ.get("PYTHONPATH")]))
        install(self.root, self.record)

    def outside_reads(self) -> list[str]:
        lines = Path(self.record).read_text(encoding="utf-8").splitlines()
        return list(dict.fromkeys(lines))

    def pytest_sessionfinish(self, session: object, exitstatus: int) -> None:
        reads = self.outside_reads()
        if reads:
            session.exitstatus = 1  # type: ignore[attr-defined]
        self._reads = reads

    def pytest_unconfigure(self, config: object) -> None:
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)

    def pytest_terminal_summary(self, terminalreporter: object) -> None:
        reads = getattr(self, "_reads", [])
        tr = terminalreporter
        if not reads:
            tr.write_line(f"read guard: nothing read outside {self.root}")  # type: ignore[attr-defined]
            return
        tr.section("read guard: FAILED", sep="=", red=True)  # type: ignore[attr-defined]
        tr.write_line(f"the suite read {len(reads)} path(s) outside the clone {self.root}:")  # type: ignore[attr-defined]
        for line in reads:
            path, pid, argv = [*line.split("\t"), "", ""][:3]
            tr.write_line(f"  {path}    (pid {pid}: {argv})")  # type: ignore[attr-defined]


def pytest_configure(config: object) -> None:
    """Entry point when loaded with `-p read_guard` (the guard's own test does this)."""
    register(config)


def register(config: object) -> None:
    if os.environ.get(ENABLE_ENV) != "1":
        return
    pm = config.pluginmanager  # type: ignore[attr-defined]
    if pm.has_plugin("venice-keys-read-guard"):
        return
    root = os.environ.get(ROOT_ENV) or str(Path(__file__).resolve().parents[2])
    pm.register(ReadGuardPlugin(root), "venice-keys-read-guard")
