"""VENICE_BASE_URL is checked whole at load, its port included: one line and exit 2, not a later traceback.

`urlsplit` accepts `http://host:abc` and only fails when something reads the port, which
would be the first request to Venice. Like every other bad setting, it must stop the
server before it starts, in one line that names the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
from hypothesis import strategies as st
from support.server_process import run_cli, server_env

from venice_keys_mcp import cli
from venice_keys_mcp.settings import MAX_SHOWN_VALUE, Settings, SettingsError, shown_value

BAD_PORTS = ["http://127.0.0.1:abc/api/v1", "https://api.venice.ai:99999/api/v1", "http://localhost:0/api/v1"]


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean VENICE_* environment, and a CLI that fails the test if it gets as far as serving."""
    for name in [k for k in os.environ if k.startswith("VENICE")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VENICE_KEYS_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("VENICE_KEYS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))

    def must_not_serve(settings: Any) -> int:
        raise AssertionError(f"the server started despite bad configuration: {settings!r}")

    monkeypatch.setattr(cli, "_serve", must_not_serve)
    return monkeypatch


@pytest.mark.parametrize("url", BAD_PORTS)
def test_a_base_url_with_an_unusable_port_is_refused_at_load(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load({"VENICE_BASE_URL": url})
    message = str(refused.value)
    assert message.startswith("Invalid VENICE_BASE_URL: its port") and "\n" not in message


@pytest.mark.parametrize("url", [*BAD_PORTS, "http://[::1/api/v1"])
def test_the_cli_refuses_it_in_one_line_with_exit_2(no_serving: pytest.MonkeyPatch, capsys, url: str) -> None:
    no_serving.setenv("VENICE_BASE_URL", url)
    no_serving.setenv("VENICE_ADMIN_KEY", "a-test-key-" + "x" * 16)
    code = cli.main([])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("venice-keys-mcp: Invalid VENICE_BASE_URL: ")


@pytest.mark.parametrize(
    ("url", "port"),
    [("http://127.0.0.1:8080/api/v1", 8080), ("https://api.venice.ai/api/v1", None), ("http://[::1]:1/x", 1)],
)
def test_a_base_url_with_a_usable_port_or_none_loads(url: str, port: int | None) -> None:
    settings = Settings.load({"VENICE_BASE_URL": url})
    assert settings.base_url == url and urlsplit(settings.base_url).port == port


def test_a_real_process_with_a_non_numeric_port_exits_2_without_a_traceback(tmp_path: Path) -> None:
    env = server_env(tmp_path, VENICE_BASE_URL="http://127.0.0.1:abc/api/v1", VENICE_ADMIN_KEY="k" * 24)
    done = run_cli(env=env)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "venice-keys-mcp: Invalid VENICE_BASE_URL: its port is not a number from 1 to 65535; "
        "use an http(s) URL such as https://api.venice.ai/api/v1."
    ]


@hypothesis.settings(max_examples=500, deadline=None)
@hypothesis.given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=MAX_SHOWN_VALUE))
def test_no_value_short_enough_to_be_shown_is_shaped_like_a_secret(raw):
    """`shown_value` repeats short printable values without asking the scrubber (settings imports
    no `safety`): that is safe only while no secret shape fits in `MAX_SHOWN_VALUE` characters."""
    from venice_keys_mcp.safety.secrets import Scrubber

    assert shown_value(raw) == f"={raw!r}"
    assert not Scrubber().contains_secret(raw)
