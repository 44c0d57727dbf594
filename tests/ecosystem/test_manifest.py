"""`manifest.json`, the MCP Bundle manifest, agrees with the server it installs.

The host shows the manifest's tools before the server ever runs and turns its
`user_config` into environment variables; both must mean what the code means. The
official validator (`mcpb validate`/`pack`) runs in `.ci/run`; these tests need no Node.
"""

from __future__ import annotations

import copy
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from support.server_process import run_cli, server_env

from tests.support import tool_catalog
from venice_keys_mcp import __version__
from venice_keys_mcp.settings import DEFAULT_TOOLSETS, ENV_VARS, ConfirmMode, Settings

from .conftest import REPO, live_tools, manifest

pytestmark = pytest.mark.anyio

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
KNOWN_ENV = {name for names in ENV_VARS.values() for name in names}


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_manifest_tools_are_exactly_the_live_tools_list(tmp_path, sync_manifest, mode):
    tools = [{"name": t.name, "description": t.description} for t in await live_tools(tmp_path, mode)]
    names = {t["name"] for t in tools}
    assert names == tool_catalog.listed_by_default()  # the default toolsets, less app-only tools
    wallet = tool_catalog.server_tools(["web3"]) - tool_catalog.server_tools(DEFAULT_TOOLSETS)
    assert wallet and not names & wallet  # minting with a wallet only when asked for
    problems = sync_manifest.differences(manifest(), sync_manifest.expected_fields(tools))
    assert problems == [], "run: python scripts/sync_manifest.py --write\n" + "\n".join(problems)


async def test_a_drifted_manifest_is_reported_field_by_field(tmp_path, sync_manifest):
    tools = [{"name": t.name, "description": t.description} for t in await live_tools(tmp_path)]
    expected = sync_manifest.expected_fields(tools)
    drifted = copy.deepcopy(manifest())
    drifted["tools"][0]["description"] = "Lists keys."
    drifted["tools"].pop()
    drifted["tools"].append({"name": "delete_everything", "description": "x"})
    drifted["version"] = "9.9.9"
    problems = "\n".join(sync_manifest.differences(drifted, expected))
    assert f"{tools[0]['name']} description differs" in problems
    assert f"{tools[-1]['name']} is served but missing" in problems
    assert "delete_everything is in the manifest but the server does not list it" in problems
    assert "version" in problems
    assert sync_manifest.differences(sync_manifest.synced(drifted, expected), expected) == []


def test_manifest_describes_this_package():
    m = manifest()
    assert m["manifest_version"] == "0.4"
    assert m["name"] == PYPROJECT["name"]
    assert m["version"] == __version__
    assert m["license"] == PYPROJECT["license"] == "MIT"
    assert m["compatibility"]["runtimes"]["python"] == PYPROJECT["requires-python"]
    # POSIX only: the audit log and token store lock with fcntl, and secret files rely on 0600/0700.
    assert set(m["compatibility"]["platforms"]) == {"darwin", "linux"}
    assert m["author"]["name"] and m["description"] and m["keywords"]


def test_uv_server_runs_the_console_script_from_the_bundle_directory():
    server = manifest()["server"]
    assert server["type"] == "uv"
    assert (REPO / server["entry_point"]).is_file()
    config = server["mcp_config"]
    assert config["command"] == "uv"
    *uv_args, script = config["args"]
    assert uv_args == ["run", "--directory", "${__dirname}"]
    assert script in PYPROJECT["scripts"], f"{script} is not a console script in pyproject.toml"


def test_every_user_option_feeds_a_documented_environment_variable():
    m = manifest()
    options, env = m["user_config"], m["server"]["mcp_config"]["env"]
    wanted = {
        "VENICE_ADMIN_KEY",
        "VENICE_KEYS_SANDBOX",
        "VENICE_KEYS_SECRETS_DIR",
        "VENICE_KEYS_READ_ONLY",
        "VENICE_KEYS_CONFIRM",
    }
    assert set(env) == wanted
    assert set(env) <= KNOWN_ENV
    used = {value.removeprefix("${user_config.").removesuffix("}") for value in env.values()}
    assert used == set(options), "every option is used, and only declared options are used"
    key = options["admin_key"]
    # MCPB has no "required unless": the key is optional, says when it is needed, and the
    # server refuses to start without one unless the sandbox switch is on.
    assert key["sensitive"] is True and key["required"] is False and key["type"] == "string"
    assert "default" not in key and "Try the sandbox" in key["description"]
    switch = options["sandbox"]
    assert switch["type"] == "boolean" and switch["default"] is False
    assert switch["title"].startswith("Try the sandbox")


def _host_env(values: dict[str, Any], home: Path) -> dict[str, str]:
    """What a host puts in the environment: `${user_config.X}` filled in, `${HOME}` expanded."""
    options = manifest()["user_config"]
    out = {}
    for name, template in manifest()["server"]["mcp_config"]["env"].items():
        option = template.removeprefix("${user_config.").removesuffix("}")
        value = values.get(option, options[option].get("default", ""))  # unset, no default: ""
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out[name] = text.replace("${HOME}", str(home))
    return out


def test_defaults_a_host_fills_in_load_as_the_safe_settings(tmp_path):
    canary = "VENICE_ADMIN_KEY_" + "c" * 6 + "canary"  # built at run time, not secret-shaped
    settings = Settings.load(_host_env({"admin_key": canary}, tmp_path))
    assert settings.admin_key is not None and settings.admin_key.get_secret_value() == canary
    assert settings.read_only is False
    assert settings.confirm == "auto"
    assert settings.secrets_dir is not None and settings.secrets_dir.is_relative_to(tmp_path)


@pytest.mark.parametrize("mode", typing.get_args(ConfirmMode))
def test_each_confirmation_mode_is_described_and_accepted(tmp_path, mode):
    assert mode in manifest()["user_config"]["confirm"]["description"]
    settings = Settings.load(_host_env({"admin_key": "k" * 8, "confirm": mode, "read_only": True}, tmp_path))
    assert settings.confirm == mode and settings.read_only is True


def test_the_sandbox_switch_needs_no_key_and_the_key_alone_is_real_venice(tmp_path):
    sandbox = Settings.load(_host_env({"sandbox": True}, tmp_path))
    assert sandbox.sandbox is True and sandbox.admin_key is None
    real = Settings.load(_host_env({"admin_key": "k" * 8}, tmp_path))
    assert real.sandbox is False and real.admin_key is not None


def test_a_placeholder_the_host_left_unfilled_is_not_a_key(tmp_path):
    env = _host_env({"sandbox": True}, tmp_path)
    env["VENICE_ADMIN_KEY"] = "${user_config.admin_key}"
    assert Settings.load(env).admin_key is None


def test_the_bundle_command_serves_the_sandbox_with_the_switch_and_refuses_without_key_or_switch(tmp_path):
    """What the bundle's user gets: the switch alone starts a server; neither switch nor key, one line."""
    base = server_env(tmp_path)
    on = run_cli(env={**base, **_host_env({"sandbox": True}, tmp_path)})
    assert on.returncode == 0, on.stderr
    assert "serving MCP over stdio against the embedded sandbox" in on.stderr
    off = run_cli(env={**base, **_host_env({}, tmp_path)})
    assert off.returncode == 2 and "Traceback" not in off.stderr
    assert "VENICE_ADMIN_KEY" in off.stderr and "Try the sandbox" in off.stderr
