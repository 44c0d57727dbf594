"""`venice-keys-mcp doctor`: a verdict a person can act on, against the sandbox and a real socket.

The doctor runs in process through `cli.main` (fast), against a real loopback sandbox
process for the network cases; one run goes through a real `python -m` process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sandbox_process import SandboxProcess, running_sandbox
from support.server_process import free_port, run_cli, server_env

from venice_keys_mcp import cli


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with running_sandbox() as running:
        yield running


@pytest.fixture
def doctor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run `doctor` with exactly the given VENICE_* environment; returns (exit code, stdout lines).

    What it wrote to stderr is kept in `run.stderr`.
    """

    def run(*args: str, **env: str) -> tuple[int, list[str]]:
        for name in [k for k in os.environ if k.startswith("VENICE")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("VENICE_KEYS_SECRETS_DIR", str(tmp_path / "secrets"))
        monkeypatch.setenv("VENICE_KEYS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = cli.main(["doctor", *args])
        captured = capsys.readouterr()
        run.stderr = captured.err  # type: ignore[attr-defined]
        return code, captured.out.splitlines()

    return run


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def fixes(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip().startswith("fix:")]


def test_doctor_sandbox_passes_and_confirms_an_admin_key(doctor):
    code, lines = doctor("--sandbox")
    assert code == 0 and not failures(lines)
    assert any(line.startswith("ok") and "is an ADMIN key" in line for line in lines)
    assert lines[-1] == "All checks passed."


def test_doctor_with_the_sandbox_admin_key_over_a_socket_passes(doctor, sandbox):
    code, lines = doctor(VENICE_BASE_URL=sandbox.base_url, VENICE_ADMIN_KEY=sandbox.admin_key)
    assert code == 0 and not failures(lines), lines
    assert any("is an ADMIN key" in line and sandbox.admin_key[-6:] in line for line in lines)
    assert sandbox.admin_key not in "\n".join(lines)


def test_doctor_with_an_inference_key_fails_and_says_how_to_fix(doctor, sandbox):
    code, lines = doctor(VENICE_BASE_URL=sandbox.base_url, VENICE_API_KEY=sandbox.inference_key)
    assert code == 1
    [fail] = failures(lines)
    assert "INFERENCE key" in fail and "ADMIN key" in fail
    assert any("ADMIN key" in fix and "VENICE_ADMIN_KEY" in fix for fix in fixes(lines))
    assert sandbox.inference_key not in "\n".join(lines)


def test_doctor_with_a_wrong_key_fails_and_names_the_variable(doctor, sandbox):
    wrong = sandbox.admin_key[:-6] + ("aaaaaa" if not sandbox.admin_key.endswith("aaaaaa") else "bbbbbb")
    code, lines = doctor(VENICE_BASE_URL=sandbox.base_url, VENICE_ADMIN_KEY=wrong)
    assert code == 1
    [fail] = failures(lines)
    assert "refused the key" in fail
    assert any("VENICE_ADMIN_KEY" in fix for fix in fixes(lines))
    assert wrong not in "\n".join(lines)


def test_doctor_against_a_closed_port_fails_with_a_fix(doctor):
    code, lines = doctor(VENICE_BASE_URL=f"http://127.0.0.1:{free_port()}/api/v1", VENICE_ADMIN_KEY="k" * 40)
    assert code == 1
    [fail] = failures(lines)
    assert "could not use Venice" in fail and "127.0.0.1" in fail
    assert any("VENICE_BASE_URL" in fix for fix in fixes(lines))


def test_doctor_without_a_key_fails_and_says_what_to_set(doctor):
    code, lines = doctor()
    assert code == 1
    [fail] = failures(lines)
    assert "no Venice key configured" in fail
    [fix] = fixes(lines)
    assert "VENICE_ADMIN_KEY" in fix and "--sandbox" in fix


def test_doctor_with_bad_configuration_is_one_line_and_exit_2(doctor):
    code, lines = doctor("--sandbox", VENICE_KEYS_CONFIRM="maybe")
    assert code == 2 and lines == []
    assert doctor.stderr.count("\n") == 1 and "VENICE_KEYS_CONFIRM" in doctor.stderr


def test_doctor_as_a_real_process(tmp_path):
    done = run_cli("doctor", "--sandbox", env=server_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "is an ADMIN key" in done.stdout
