"""Shared fixtures: the anyio backend, the protocol era, and private per-user folders for every test.

A host speaks one of two protocol eras: "legacy" (2025-11-25, what most hosts speak
today) or "2026-07-28". Most behaviour is the same in both, so a test that takes `mode`
runs once, in the legacy era. What the era changes (the handshake, how a person is asked:
elicitation or an input-required result, and the request state that carries a question
across calls) is marked `@pytest.mark.eras` and runs in each. A test may also
parametrize `mode` itself.

The audit key lives in the per-user config folder, sandbox runs keep their audit logs
in the state folder (see `safety.audit`). Each test gets its own folders, through the
XDG variables, so the suite never creates or reads a file in the home folder of whoever
runs it; server processes the tests start inherit them.

With `CLONE_READ_GUARD=1` (set by `.ci/run`) the session fails if anything, in the
tests or in the processes they start, reads outside this clone: see tests/support/read_guard.py.
"""

from __future__ import annotations

import pytest

from tests.support import read_guard
from tests.support.eras import DEFAULT_ERA, ERAS


def pytest_configure(config: pytest.Config) -> None:
    read_guard.register(config)
    config.addinivalue_line(
        "markers",
        "eras: run in each protocol era (handshake, elicitation and input-required, request state)",
    )
    config.addinivalue_line("markers", "slow: long-running; `.ci/run` runs these after the README's command")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mode" not in metafunc.fixturenames or not metafunc.definition.get_closest_marker("eras"):
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if "mode" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return  # the test chose its eras itself
    metafunc.parametrize("mode", ERAS, indirect=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("xdg")
    for name in ("CONFIG", "STATE", "DATA"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(home / name.lower()))


@pytest.fixture
def mode(request: pytest.FixtureRequest) -> str:
    """The protocol era a test's client speaks: the legacy era, or each era under `eras`."""
    return getattr(request, "param", DEFAULT_ERA)
