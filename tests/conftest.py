"""Shared fixtures: the anyio backend, and a private config folder for every test.

The audit key lives in the per-user config folder (see `safety.audit`). Each test gets
its own, through `XDG_CONFIG_HOME`, so the suite never creates or reads a key in the
home folder of whoever runs it; server processes the tests start inherit it.
"""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _private_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
