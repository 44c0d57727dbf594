"""Client fixtures: one real sandbox process on loopback for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.sandbox_process import SandboxProcess, running_sandbox


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess) -> Iterator[SandboxProcess]:
    """The session's sandbox with no faults pending before or after the test."""
    sandbox_process.clear_faults()
    yield sandbox_process
    sandbox_process.clear_faults()
