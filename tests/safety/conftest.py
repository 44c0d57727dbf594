"""Fixtures for the safety building blocks: canary secrets made at run time, never written down."""

from __future__ import annotations

import secrets

import pytest


def make_canary(kind: str = "ADMIN") -> str:
    """A fresh secret shaped like a real Venice key; tests never contain a literal one."""
    return f"VENICE_{kind}_KEY_" + secrets.token_urlsafe(32)


@pytest.fixture
def new_canary():
    """A factory, for tests that need several distinct secrets."""
    return make_canary


@pytest.fixture
def canary() -> str:
    return make_canary("ADMIN")


@pytest.fixture
def inference_canary() -> str:
    return make_canary("INFERENCE")
