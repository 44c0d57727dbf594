"""Shared fixtures: the anyio backend, and private per-user folders for every test.

The audit key lives in the per-user config folder, sandbox runs keep their audit logs
in the state folder (see `safety.audit`). Each test gets its own folders, through the
XDG variables, so the suite never creates or reads a file in the home folder of whoever
runs it; server processes the tests start inherit them.

With `CLONE_READ_GUARD=1` (set by `.ci/run`) the session fails if anything, in the
tests or in the processes they start, reads outside this clone: see tests/support/read_guard.py.
"""

import pytest

from tests.support import read_guard


def pytest_configure(config: pytest.Config) -> None:
    read_guard.register(config)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("xdg")
    for name in ("CONFIG", "STATE", "DATA"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(home / name.lower()))
