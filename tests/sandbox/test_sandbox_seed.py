"""The seeded demo account, and the public surface other packages rely on."""

from __future__ import annotations

import re

import pytest

import venice_keys_mcp.sandbox as sandbox
from venice_keys_mcp.sandbox import DemoAccount, SandboxState, seeded_state

from .conftest import ClientFactory


def test_public_surface_is_exactly_the_documented_names() -> None:
    assert sorted(sandbox.__all__) == [
        "DemoAccount",
        "SandboxState",
        "asgi_transport",
        "create_app",
        "seeded_state",
    ]


def test_demo_account_has_working_credentials() -> None:
    state = seeded_state()
    demo = state.demo
    assert isinstance(demo, DemoAccount)
    assert demo.admin_key.startswith("VENICE_ADMIN_KEY_") and demo.inference_key.startswith(
        "VENICE_INFERENCE_KEY_"
    )
    assert state.key_for_secret(demo.admin_key).id == demo.admin_key_id  # type: ignore[union-attr]
    assert state.key_for_secret(demo.inference_key).api_key_type == "INFERENCE"  # type: ignore[union-attr]
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", demo.wallet_address)
    assert re.fullmatch(r"0x[0-9a-f]{64}", demo.wallet_private_key)
    assert state.wallet(demo.wallet_address).staked  # type: ignore[union-attr]
    assert not state.wallet(demo.unstaked_wallet_address).staked  # type: ignore[union-attr]


def test_demo_wallet_keys_match_their_addresses() -> None:
    from eth_account import Account

    demo = seeded_state().demo
    assert Account.from_key(demo.wallet_private_key).address == demo.wallet_address
    assert Account.from_key(demo.unstaked_wallet_private_key).address == demo.unstaked_wallet_address


def test_secrets_are_fresh_each_run_but_the_seed_fixes_the_rest() -> None:
    one, two = seeded_state(seed=11), seeded_state(seed=11)
    assert one.demo.admin_key != two.demo.admin_key
    assert sorted(one.keys) == sorted(two.keys)
    assert sorted(seeded_state(seed=12).keys) != sorted(one.keys)


@pytest.mark.parametrize("count", [50, 250, 500])
def test_key_count_pads_to_that_many_active_keys(count: int) -> None:
    state = seeded_state(key_count=count)
    assert len(state.active_keys(state.demo.account_id)) == count


def test_a_small_key_count_keeps_the_showcase_keys() -> None:
    state = seeded_state(key_count=3)
    assert len(state.active_keys(state.demo.account_id)) > 3


def test_an_unseeded_state_says_how_to_get_a_demo_account() -> None:
    with pytest.raises(RuntimeError, match="seeded_state"):
        _ = SandboxState().demo


def test_advance_works_on_a_replaced_clock() -> None:
    from datetime import UTC, datetime

    state = SandboxState()
    fixed = datetime(2030, 1, 1, tzinfo=UTC)
    state.clock = lambda: fixed
    state.advance(90)
    state.advance(30)
    assert (state.now() - fixed).total_seconds() == 120


@pytest.mark.anyio
async def test_an_internal_error_is_a_500_json_answer(
    state: SandboxState, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(account_id: str) -> list[object]:
        raise RuntimeError("bug in the sandbox")

    monkeypatch.setattr(state, "active_keys", broken)
    admin = make_client(state.demo.admin_key)  # checks the body against the spec and the rate headers
    for _ in range(state.abuse_threshold + 1):
        response = await admin.get("/api_keys")
        assert (response.status_code, response.json()) == (500, {"error": "An unknown error occurred"})
    assert (await admin.get("/api_keys")).status_code == 429, "a 500 counts as a failed request"
