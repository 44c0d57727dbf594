"""Issue 12, finding 3: what the command line prints never carries a secret (real processes).

A base URL with userinfo and an `api_key` query, a key pasted into the wrong variable,
and a configured key that turns up in a printed path: `doctor`, the banner, settings
errors and `audit verify` show none of them. Canaries are made at run time.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from support.server_process import free_port, run_cli, server_env


def canary_key(kind: str = "ADMIN") -> str:
    return f"VENICE_{kind}_KEY_" + secrets.token_urlsafe(32)


@pytest.fixture
def url_canaries() -> dict[str, str]:
    return {
        "user": "u" + secrets.token_hex(6),
        "password": secrets.token_urlsafe(18),
        "api_key": secrets.token_urlsafe(30),
    }


def hostile_base_url(c: dict[str, str], port: int) -> str:
    return f"http://{c['user']}:{c['password']}@127.0.0.1:{port}/api/v1?api_key={c['api_key']}&v=1"


def shown(output: str, canaries: dict[str, str]) -> list[str]:
    return [name for name, value in canaries.items() if value.casefold() in output.casefold()]


def test_doctor_shows_the_base_url_without_userinfo_or_query(tmp_path: Path, url_canaries) -> None:
    port = free_port()  # nobody listens: the doctor reports the URL it could not reach
    admin = canary_key()
    env = server_env(tmp_path, VENICE_BASE_URL=hostile_base_url(url_canaries, port), VENICE_ADMIN_KEY=admin)
    done = run_cli("doctor", env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"http://127.0.0.1:{port}/api/v1" in done.stdout  # the URL is there, just clean
    assert not shown(output, {**url_canaries, "admin key": admin}), output
    assert "@" not in output and "api_key=" not in output


def test_the_banner_shows_the_base_url_without_userinfo_or_query(tmp_path: Path, url_canaries) -> None:
    port = free_port()
    admin = canary_key()
    env = server_env(tmp_path, VENICE_BASE_URL=hostile_base_url(url_canaries, port), VENICE_ADMIN_KEY=admin)
    done = run_cli(env=env)  # stdio: prints the banner, then stdin closes and it stops
    assert done.returncode == 0, done.stderr
    assert f"against http://127.0.0.1:{port}/api/v1" in done.stderr
    assert not shown(done.stdout + done.stderr, {**url_canaries, "admin key": admin}), done.stderr


#: Variables whose invalid values the error line used to repeat.
WRONG_PLACES = [
    "VENICE_KEYS_CONFIRM",
    "VENICE_KEYS_READ_ONLY",
    "VENICE_KEYS_ALLOWED_ORIGINS",
    "VENICE_KEYS_ALLOWED_HOSTS",
]


@pytest.mark.parametrize("variable", WRONG_PLACES)
@pytest.mark.parametrize("kind", ["a Venice key", "an unprefixed token"])
def test_a_secret_in_the_wrong_variable_is_not_echoed(tmp_path: Path, variable: str, kind: str) -> None:
    value = canary_key() if kind == "a Venice key" else secrets.token_urlsafe(24)
    if variable == "VENICE_KEYS_ALLOWED_HOSTS":
        value = f"{value}/x"  # a "/" makes it an invalid Host entry
    done = run_cli("--sandbox", env=server_env(tmp_path, **{variable: value}))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"venice-keys-mcp: Invalid {variable}"), line
    assert value not in line and value[-12:] not in line, line
    assert done.stdout == ""


def test_a_short_harmless_value_is_still_named_in_the_error(tmp_path: Path) -> None:
    done = run_cli("--sandbox", env=server_env(tmp_path, VENICE_KEYS_CONFIRM="maybe"))
    assert done.returncode == 2
    assert "VENICE_KEYS_CONFIRM='maybe'" in done.stderr and "use auto, elicit, agent or off" in done.stderr


def test_every_printed_line_is_scrubbed_of_the_configured_key(tmp_path: Path) -> None:
    """The chokepoint: a configured key that is not Venice-shaped (only the literal catches it),
    turning up inside a printed path, is removed from the banner, `doctor` and `audit verify`."""
    admin = "sk_" + secrets.token_urlsafe(30)
    folder = tmp_path / f"logs-{admin.upper()}"
    env = server_env(
        tmp_path,
        VENICE_ADMIN_KEY=admin,
        VENICE_BASE_URL=f"http://127.0.0.1:{free_port()}/api/v1",
        VENICE_KEYS_AUDIT_LOG=str(folder / "audit.jsonl"),
    )
    runs = {
        "banner": run_cli(env=env),
        "doctor": run_cli("doctor", env=env),
        "audit verify": run_cli("audit", "verify", "--file", str(folder / "missing.jsonl"), env=env),
    }
    for what, done in runs.items():
        output = done.stdout + done.stderr
        assert "[REDACTED]" in output, (what, output)  # the path was printed, minus the key
        assert admin[3:].casefold() not in output.casefold(), (what, output)
