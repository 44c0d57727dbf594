"""The protocol eras a host may speak; tests/conftest.py decides which tests run in each."""

ERAS = ["legacy", "2026-07-28"]
#: The era a test runs in unless it is marked `eras`: what most hosts speak today.
DEFAULT_ERA = "legacy"
