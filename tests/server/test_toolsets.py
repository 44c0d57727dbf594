"""Toolsets, as github-mcp-server has them: `VENICE_KEYS_TOOLSETS` (or `--toolsets`) picks groups of tools.

The default is what a key admin uses daily; minting with a wallet is asked for by name.
Read-only mode still lists only read tools, whatever the toolsets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from support.server_process import run_cli, server_env

from venice_keys_mcp.server import build_server
from venice_keys_mcp.settings import DEFAULT_TOOLSETS, Settings, SettingsError

pytestmark = pytest.mark.anyio


async def listed(tmp_path: Path, **settings: Any) -> set[str]:
    server = build_server(
        Settings(sandbox=True, audit_log=tmp_path / "a.jsonl", state_dir=tmp_path / "s", **settings)
    )
    async with Client(server, mode="legacy") as c:
        return {t.name for t in (await c.list_tools()).tools}


async def test_the_default_leaves_out_minting_with_a_wallet(tmp_path):
    names = await listed(tmp_path)
    assert "web3" not in DEFAULT_TOOLSETS
    assert {"list_keys", "create_key", "revoke_key", "rotate_key", "revoke_keys", "get_limits"} <= names
    assert not names & {"get_web3_token", "mint_web3_key"}


async def test_one_toolset_lists_only_its_tools(tmp_path):
    assert await listed(tmp_path, toolsets=("web3",)) == {"get_web3_token", "mint_web3_key"}
    assert await listed(tmp_path, toolsets=("limits",)) == {"get_limits", "get_breach_log"}


async def test_read_only_lists_only_the_read_tools_of_the_chosen_sets(tmp_path):
    assert await listed(tmp_path, toolsets=("keys", "web3"), read_only=True) == {
        "list_keys",
        "get_key",
        "get_web3_token",
    }


def test_all_and_unknown_names_from_the_environment(tmp_path):
    assert Settings.load({"VENICE_KEYS_TOOLSETS": "all"}).toolsets == (
        "keys",
        "workflows",
        "spend",
        "limits",
        "web3",
    )
    assert Settings.load({"VENICE_KEYS_TOOLSETS": " Keys, web3 ,keys"}).toolsets == ("keys", "web3")
    with pytest.raises(SettingsError) as bad:
        Settings.load({"VENICE_KEYS_TOOLSETS": "keys,wallets"})
    assert "VENICE_KEYS_TOOLSETS" in str(bad.value) and "'wallets' is not a toolset" in str(bad.value)


def test_the_flag_is_one_line_when_wrong(tmp_path):
    done = run_cli("--sandbox", "--toolsets", "nope", env=server_env(tmp_path))
    assert done.returncode == 2 and "--toolsets" in done.stderr and "Traceback" not in done.stderr
