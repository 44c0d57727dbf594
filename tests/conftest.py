"""Shared fixtures: the anyio backend and the protocol era. Area fixtures live in each folder's conftest.

A host speaks one of two protocol eras: "legacy" (2025-11-25, what most hosts speak
today) or "2026-07-28". Most behaviour is the same in both, so a test that takes `mode`
runs once, in the legacy era. What the era changes (the handshake, how a person is asked:
elicitation or an input-required result, and the request state that carries a question
across calls) is marked `@pytest.mark.eras` and runs in each. A test may also
parametrize `mode` itself.
"""

from __future__ import annotations

import pytest

from tests.support.eras import DEFAULT_ERA, ERAS


def pytest_configure(config: pytest.Config) -> None:
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


@pytest.fixture
def mode(request: pytest.FixtureRequest) -> str:
    """The protocol era a test's client speaks: the legacy era, or each era under `eras`."""
    return getattr(request, "param", DEFAULT_ERA)
