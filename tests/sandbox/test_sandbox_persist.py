"""`--state FILE`: the sandbox survives restarts, writes atomically, and refuses a broken file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx2
import pytest

from venice_keys_mcp.sandbox import asgi_transport, create_app, seeded_state
from venice_keys_mcp.sandbox.persist import StateFileError, load_state_file, save_state
from venice_keys_mcp.sandbox.serve import run
from venice_keys_mcp.sandbox.web3 import issue_token, verify_token

from .conftest import BASE_URL


def test_state_round_trips_through_a_file(tmp_path: Path) -> None:
    state = seeded_state(seed=5)
    secret, key = state.create_key(state.demo.account_id, api_key_type="INFERENCE", description="kept")
    token = issue_token(state)
    path = tmp_path / "state.json"
    save_state(state, path)
    loaded = load_state_file(path)
    assert loaded is not None
    assert loaded.demo == state.demo
    assert loaded.key_for_secret(secret) is not None
    assert loaded.key_for_secret(state.demo.admin_key).id == state.demo.admin_key_id  # type: ignore[union-attr]
    assert loaded.keys[key.id] == key
    assert loaded.accounts[state.demo.account_id].breaches == state.accounts[state.demo.account_id].breaches
    assert loaded.wallet(state.demo.wallet_address) == state.wallet(state.demo.wallet_address)
    verify_token(loaded, token)  # tokens stay valid across a restart


def test_state_file_is_private_and_holds_no_other_secret(tmp_path: Path) -> None:
    state = seeded_state(seed=6)
    secret, _ = state.create_key(state.demo.account_id, api_key_type="ADMIN", description="hashed only")
    path = tmp_path / "state.json"
    save_state(state, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert secret not in text
    assert state.demo.admin_key in text, "the demo secrets are kept so a restart can print them"


def test_a_failed_save_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = seeded_state(seed=8)
    path = tmp_path / "state.json"
    save_state(state, path)
    old = path.read_bytes()
    state.create_key(state.demo.account_id, api_key_type="INFERENCE", description="never saved")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_state(state, path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"], "no temporary file is left behind"


def test_missing_state_file_means_a_fresh_state(tmp_path: Path) -> None:
    assert load_state_file(tmp_path / "absent.json") is None


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"format": "other"}', b"\xff\xfe", b""])
def test_corrupt_state_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=r"state\.json"):
        load_state_file(path)


def test_serve_with_a_corrupt_state_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format": "venice-keys-mcp-sandbox-state/1", "keys": 5}')
    assert run(port=0, state_file=str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err and str(path) in captured.err


@pytest.mark.anyio
async def test_every_change_is_saved(tmp_path: Path) -> None:
    state = seeded_state(seed=9)
    path = tmp_path / "state.json"
    state.on_change = lambda: save_state(state, path)
    async with httpx2.AsyncClient(
        transport=asgi_transport(create_app(state)),
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {state.demo.admin_key}"},
    ) as client:
        created = (
            await client.post("/api_keys", json={"apiKeyType": "INFERENCE", "description": "saved"})
        ).json()
        key_id = created["data"]["id"]
        assert key_id in {k["id"] for k in json.loads(path.read_text())["keys"]}
        await client.patch("/api_keys", json={"id": key_id, "description": "renamed"})
        assert any(k["description"] == "renamed" for k in json.loads(path.read_text())["keys"])
        await client.delete("/api_keys", params={"id": key_id})
        assert key_id not in {k["id"] for k in json.loads(path.read_text())["keys"]}


def test_serve_on_a_busy_port_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        assert run(port=busy.getsockname()[1]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot listen" in err


def test_summary_warns_when_not_on_loopback() -> None:
    from venice_keys_mcp.sandbox.serve import _summary

    state = seeded_state()
    assert "WARNING" in _summary("http://0.0.0.0:1/api/v1", state, "0.0.0.0", None)
    assert "WARNING" not in _summary("http://127.0.0.1:1/api/v1", state, "127.0.0.1", None)
    assert "WARNING" not in _summary("http://[::1]:1/api/v1", state, "::1", None)
