"""Confirmation tokens: bound to one action and its arguments, expiring, single use, unforgeable."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading

import pytest

from venice_keys_mcp.safety.tokens import ConfirmationTokens, load_signing_key

ARGS = {"key_id": "k-1", "usd": 10.0, "expires_at": None}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock) -> ConfirmationTokens:
    return ConfirmationTokens(secrets.token_bytes(32), ttl_seconds=300, clock=clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_token_is_compact_and_carries_action_digest_expiry_and_nonce(tokens, clock):
    token = tokens.issue("revoke_key", ARGS)
    assert re.fullmatch(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert len(token) < 240
    payload = json.loads(unb64(token.split(".")[1]))
    assert set(payload) == {"a", "d", "exp", "i", "n"}  # "i": where it must be spent
    assert payload["a"] == "revoke_key" and payload["exp"] == int(clock.now) + 300
    assert "k-1" not in token  # arguments travel only as a digest


def test_token_confirms_the_call_it_was_issued_for(tokens):
    token = tokens.issue("revoke_key", ARGS)
    verdict = tokens.check(token, "revoke_key", dict(reversed(list(ARGS.items()))))
    assert verdict.ok and verdict.code == "ok"


def test_token_is_single_use(tokens):
    token = tokens.issue("revoke_key", ARGS)
    assert tokens.check(token, "revoke_key", ARGS).ok
    verdict = tokens.check(token, "revoke_key", ARGS)
    assert not verdict.ok and verdict.code == "replayed"
    assert "already used" in verdict.reason


def test_peek_validates_without_consuming(tokens):
    token = tokens.issue("revoke_key", ARGS)
    assert tokens.peek(token, "revoke_key", ARGS).ok
    assert tokens.peek(token, "revoke_key", ARGS).ok
    assert tokens.check(token, "revoke_key", ARGS).ok
    assert tokens.peek(token, "revoke_key", ARGS).code == "replayed"


def test_each_issued_token_is_distinct(tokens):
    assert tokens.issue("revoke_key", ARGS) != tokens.issue("revoke_key", ARGS)


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_is_refused(tokens, token):
    verdict = tokens.check(token, "revoke_key", ARGS)
    assert not verdict.ok and verdict.code == "missing"
    assert "no confirmation token" in verdict.reason


@pytest.mark.parametrize("token", ["abc", "v1.abc", "v2.abc.def", "v1.@@@.###", "v1..", "v1.a.b.c"])
def test_malformed_token_is_refused(tokens, token):
    verdict = tokens.check(token, "revoke_key", ARGS)
    assert not verdict.ok and verdict.code in {"malformed", "forged"}


def test_garbage_with_the_right_shape_is_refused_as_malformed_or_forged(tokens):
    assert tokens.check("v1.!!!!.????", "revoke_key", ARGS).code == "malformed"


def test_altered_payload_is_refused_as_forged(tokens):
    token = tokens.issue("patch_key", ARGS)
    version, payload, mac = token.split(".")
    data = json.loads(unb64(payload))
    data["exp"] += 3600  # try to extend it
    forged = f"{version}.{b64(json.dumps(data).encode())}.{mac}"
    verdict = tokens.check(forged, "patch_key", ARGS)
    assert not verdict.ok and verdict.code == "forged"


def test_altered_mac_is_refused_as_forged(tokens):
    token = tokens.issue("patch_key", ARGS)
    head, mac = token.rsplit(".", 1)
    flipped = b64(bytes([unb64(mac)[0] ^ 1]) + unb64(mac)[1:])
    assert tokens.check(f"{head}.{flipped}", "patch_key", ARGS).code == "forged"


def test_token_from_another_server_process_says_so(clock):
    old = ConfirmationTokens(secrets.token_bytes(32), clock=clock)
    new = ConfirmationTokens(secrets.token_bytes(32), clock=clock)
    verdict = new.check(old.issue("revoke_key", ARGS), "revoke_key", ARGS)
    assert not verdict.ok and verdict.code == "forged"
    assert "issued by another server process (restart?) or altered" in verdict.reason


def test_configured_key_explains_a_bad_signature_without_blaming_a_restart(clock):
    a = ConfirmationTokens(secrets.token_bytes(32), clock=clock, configured=True)
    b = ConfirmationTokens(secrets.token_bytes(32), clock=clock, configured=True)
    verdict = b.check(a.issue("revoke_key", ARGS), "revoke_key", ARGS)
    assert verdict.code == "forged" and "different key" in verdict.reason


def test_configured_key_makes_tokens_survive_a_restart(clock, tmp_path):
    key = secrets.token_bytes(32)
    spent = tmp_path / "used-tokens"
    token = ConfirmationTokens(key, clock=clock, configured=True, spent_file=spent).issue("revoke_key", ARGS)
    restarted = ConfirmationTokens(key, clock=clock, configured=True, spent_file=spent)
    assert restarted.check(token, "revoke_key", ARGS).ok


def test_expired_token_is_refused(tokens, clock):
    token = tokens.issue("revoke_key", ARGS)
    clock.now += 299
    assert tokens.peek(token, "revoke_key", ARGS).ok
    clock.now += 1
    verdict = tokens.check(token, "revoke_key", ARGS)
    assert not verdict.ok and verdict.code == "expired"
    assert "expired" in verdict.reason and "fresh preview" in verdict.reason


def test_token_for_another_action_is_refused(tokens):
    token = tokens.issue("patch_key", ARGS)
    verdict = tokens.check(token, "revoke_key", ARGS)
    assert not verdict.ok and verdict.code == "wrong_action"
    assert "this token was issued for a different action" in verdict.reason


@pytest.mark.parametrize(
    "other",
    [
        {**ARGS, "key_id": "k-2"},
        {**ARGS, "usd": 10.5},
        {"key_id": "k-1", "usd": 10.0},  # a field left out is not the same as None
        {**ARGS, "extra": True},
    ],
)
def test_token_for_other_arguments_is_refused(tokens, other):
    token = tokens.issue("patch_key", ARGS)
    verdict = tokens.check(token, "patch_key", other)
    assert not verdict.ok and verdict.code == "wrong_arguments"
    assert "this token was issued for different arguments" in verdict.reason


def test_refused_check_does_not_consume_the_token(tokens):
    token = tokens.issue("patch_key", ARGS)
    assert not tokens.check(token, "patch_key", {**ARGS, "usd": 99}).ok
    assert tokens.check(token, "patch_key", ARGS).ok


def test_used_nonces_are_pruned_after_expiry(tokens, clock):
    for _ in range(5):
        assert tokens.check(tokens.issue("revoke_key", ARGS), "revoke_key", ARGS).ok
    assert len(tokens._used) == 5
    clock.now += 301
    assert tokens.check(tokens.issue("revoke_key", ARGS), "revoke_key", ARGS).ok
    assert len(tokens._used) == 1


def test_concurrent_checks_of_one_token_confirm_exactly_once(tokens):
    token = tokens.issue("revoke_key", ARGS)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        results.append(tokens.check(token, "revoke_key", ARGS).ok)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_short_signing_key_is_rejected():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ConfirmationTokens(b"short")


def test_load_signing_key_without_a_value_makes_a_random_process_key():
    key, configured = load_signing_key(None)
    again, _ = load_signing_key("  ")
    assert len(key) == 32 and not configured and key != again


@pytest.mark.parametrize(
    "encode",
    [
        bytes.hex,
        lambda b: base64.b64encode(b).decode(),
        lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
    ],
)
def test_load_signing_key_accepts_hex_and_base64(encode):
    raw = secrets.token_bytes(48)
    key, configured = load_signing_key(f"  {encode(raw)}\n")
    assert key == raw and configured


@pytest.mark.parametrize(
    "value",
    [secrets.token_hex(16), base64.b64encode(b"x" * 31).decode()],
    ids=["hex-16-bytes", "base64-31-bytes"],  # fixed ids: every worker must collect the same tests
)
def test_load_signing_key_rejects_a_short_key_without_echoing_it(value):
    with pytest.raises(ValueError) as info:
        load_signing_key(value)
    assert "VENICE_KEYS_SIGNING_KEY" in str(info.value) and "at least 32" in str(info.value)
    assert value not in str(info.value)


def test_load_signing_key_rejects_garbage_without_echoing_it():
    value = "not a key, just words!"
    with pytest.raises(ValueError) as info:
        load_signing_key(value)
    assert "neither hex nor base64" in str(info.value) and value not in str(info.value)


# -- single use, wherever the token can be verified (issue: two instances, one signing key) --


def test_a_token_is_refused_by_an_instance_with_another_used_tokens_file(tmp_path):
    """Two instances share a signing key but not a state folder: the token works only where it was issued."""
    key = secrets.token_bytes(32)
    here = ConfirmationTokens(key, configured=True, spent_file=tmp_path / "a" / "used-tokens")
    there = ConfirmationTokens(key, configured=True, spent_file=tmp_path / "b" / "used-tokens")
    token = here.issue("revoke_key", {"key_id": "k"})
    elsewhere = there.check(token, "revoke_key", {"key_id": "k"})
    assert not elsewhere.ok and elsewhere.code == "other_instance"
    assert here.check(token, "revoke_key", {"key_id": "k"}).ok
    assert here.check(token, "revoke_key", {"key_id": "k"}).code == "replayed"


def test_instances_sharing_a_state_folder_share_single_use(tmp_path):
    key = secrets.token_bytes(32)
    first = ConfirmationTokens(key, configured=True, spent_file=tmp_path / "used-tokens")
    second = ConfirmationTokens(key, configured=True, spent_file=tmp_path / "used-tokens")
    token = first.issue("revoke_key", {"key_id": "k"})
    assert second.check(token, "revoke_key", {"key_id": "k"}).ok
    assert first.check(token, "revoke_key", {"key_id": "k"}).code == "replayed"


def test_a_clock_stepped_back_does_not_make_a_used_token_usable_again(tmp_path):
    """Used, then forgotten once expired; the clock steps back: still refused (as expired)."""
    key = secrets.token_bytes(32)
    now = [1_000_000.0]
    spent = tmp_path / "used-tokens"
    tokens = ConfirmationTokens(key, ttl_seconds=60, clock=lambda: now[0], configured=True, spent_file=spent)
    token = tokens.issue("revoke_key", {"key_id": "k"})
    assert tokens.check(token, "revoke_key", {"key_id": "k"}).ok
    now[0] += 3600  # an hour on: the nonce is dropped from the file at the next spend
    other = tokens.issue("revoke_key", {"key_id": "j"})
    assert tokens.check(other, "revoke_key", {"key_id": "j"}).ok
    assert "clock" in spent.read_text()
    now[0] -= 3600  # the clock steps back to when the first token was fresh
    restarted = ConfirmationTokens(
        key, ttl_seconds=60, clock=lambda: now[0], configured=True, spent_file=spent
    )
    verdict = restarted.check(token, "revoke_key", {"key_id": "k"})
    assert not verdict.ok and verdict.code in {"expired", "replayed"}, verdict
