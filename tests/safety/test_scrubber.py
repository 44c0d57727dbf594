"""Scrubber: secret-shaped text and registered literals never survive a scrub."""

from __future__ import annotations

import secrets
import string
import threading
from collections import namedtuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from venice_keys_mcp.safety.secrets import REDACTED, SECRET_PATTERN, Scrubber, normalize

URLSAFE = string.ascii_letters + string.digits + "-_"


def test_scrub_redacts_admin_and_inference_secrets(canary, inference_canary):
    text = f"admin={canary}, inference={inference_canary}."
    out = Scrubber().scrub(text)
    assert canary not in out and inference_canary not in out
    assert out == f"admin={REDACTED}, inference={REDACTED}."


def test_secret_pattern_matches_whole_secret(canary):
    assert SECRET_PATTERN.fullmatch(canary)


def test_scrub_leaves_setting_names_and_plain_text_alone():
    text = "Set VENICE_ADMIN_KEY to an ADMIN key; VENICE_INFERENCE_KEY_ alone is just a prefix."
    assert Scrubber().scrub(text) == text


def test_scrub_redacts_bearer_tokens_but_keeps_the_word():
    token = "abcDEF123456._~+/-xyz=="
    out = Scrubber().scrub(f"Authorization: Bearer {token}")
    assert token not in out
    assert out == f"Authorization: Bearer {REDACTED}"
    assert Scrubber().scrub("a Bearer token is required") == "a Bearer token is required"


def test_scrub_redacts_registered_literals_that_do_not_look_like_secrets():
    literal = "sk-test-" + "q" * 20
    scrubber = Scrubber([literal])
    assert scrubber.scrub(f"key {literal}!") == f"key {REDACTED}!"


def test_added_secret_is_redacted_from_then_on(canary):
    scrubber = Scrubber()
    odd = "plain-secret-value-0042"
    assert scrubber.scrub(odd) == odd
    scrubber.add(odd)
    assert scrubber.scrub(f"x{odd}y") == f"x{REDACTED}y"


def test_longer_literal_wins_over_one_it_contains():
    short, long = "secretvalue1", "secretvalue1-and-more"
    scrubber = Scrubber([short, long])
    assert scrubber.scrub(long) == REDACTED


def test_short_and_empty_literals_are_ignored():
    scrubber = Scrubber(["", "abc", None])  # type: ignore[list-item]
    assert scrubber.scrub("abc abc") == "abc abc"


def test_literals_with_regex_characters_are_matched_literally():
    literal = "a.b*c+d?e(f)[g]"
    scrubber = Scrubber([literal])
    assert scrubber.scrub(f"<{literal}>") == f"<{REDACTED}>"
    assert scrubber.scrub("aXbbbcdde") == "aXbbbcdde"


def test_contains_secret(canary):
    scrubber = Scrubber(["literal-secret-1"])
    assert scrubber.contains_secret(f"x {canary}")
    assert scrubber.contains_secret("x literal-secret-1")
    assert scrubber.contains_secret("Bearer abcdefgh12345")
    assert not scrubber.contains_secret("nothing to see, VENICE_ADMIN_KEY is a setting name")


class Inner(BaseModel):
    note: str
    n: int = 3


class Outer(BaseModel):
    name: str
    inner: Inner
    items: list[str]


def test_scrub_obj_walks_containers_and_models(canary):
    Pair = namedtuple("Pair", "a b")
    data = {
        "s": canary,
        canary: "key-as-dict-key",
        "list": [canary, 1, None],
        "tuple": (canary, 2.5),
        "pair": Pair(canary, "ok"),
        "set": {canary},
        "model": Outer(name=canary, inner=Inner(note=f"note {canary}"), items=[canary]),
    }
    out = Scrubber().scrub_obj(data)
    assert canary not in repr(out)
    assert out["list"] == [REDACTED, 1, None]
    assert out["tuple"] == (REDACTED, 2.5)
    assert isinstance(out["pair"], Pair) and out["pair"].a == REDACTED
    assert out["set"] == {REDACTED}
    model = out["model"]
    assert isinstance(model, Outer) and isinstance(model.inner, Inner)
    assert model.inner.note == f"note {REDACTED}" and model.inner.n == 3
    assert REDACTED in out
    # The original is untouched: scrub_obj returns a copy.
    assert data["s"] == canary and data["model"].name == canary


def test_scrub_obj_handles_frozen_models(canary):
    class Frozen(BaseModel):
        model_config = {"frozen": True}
        secret: str

    out = Scrubber().scrub_obj(Frozen(secret=canary))
    assert out.secret == REDACTED


def test_scrub_obj_returns_other_values_unchanged():
    scrubber = Scrubber()
    for value in (1, 2.5, None, True):
        assert scrubber.scrub_obj(value) is value


def test_add_is_safe_from_many_threads():
    scrubber = Scrubber()
    values = [f"thread-secret-{i:04d}-xyz" for i in range(200)]
    threads = [threading.Thread(target=scrubber.add, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = " ".join(values)
    assert scrubber.scrub(text) == " ".join([REDACTED] * len(values))


secret_bodies = st.text(alphabet=URLSAFE, min_size=1, max_size=60)


@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    kind=st.sampled_from(["ADMIN", "INFERENCE"]),
    body=secret_bodies,
)
def test_any_embedded_secret_is_removed(before, after, kind, body):
    secret = f"VENICE_{kind}_KEY_{body}"
    out = Scrubber().scrub(before + secret + after)
    assert secret not in out
    assert not SECRET_PATTERN.search(out)


@given(before=st.text(max_size=40), after=st.text(max_size=40), literal=st.text(min_size=8, max_size=40))
def test_any_registered_literal_is_removed(before, after, literal):
    scrubber = Scrubber([literal])
    out = scrubber.scrub(before + literal + after)
    assert literal not in out


@given(text=st.text(max_size=80), body=secret_bodies)
def test_scrub_is_idempotent(text, body):
    scrubber = Scrubber(["VENICE_ADMIN_KEY_" + secrets.token_urlsafe(32)])
    once = scrubber.scrub(text + "VENICE_ADMIN_KEY_" + body + text)
    assert scrubber.scrub(once) == once


# -- issue 12, finding 4: normalise first; any case; `-` and `_` alike -----------------

SPLITTERS = {
    "zero-width space": "\u200b",
    "soft hyphen": "\u00ad",
    "word joiner": "\u2060",
    "right-to-left override": "\u202e",
    "NUL": "\x00",
    "escape": "\x1b",
    "DEL": "\x7f",
}
VARIANTS = {
    "upper": str.upper,
    "lower": str.lower,
    "all dashes": lambda s: s.replace("_", "-"),
    "swapped": lambda s: s.translate(str.maketrans("-_", "_-")),
    "unicode hyphen": lambda s: s.replace("_", "\u2010"),
    "fullwidth": lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s),
}


def odd_literal() -> str:
    """A configured secret that is not Venice-shaped: only the literal match can catch it."""
    return "sk_" + secrets.token_urlsafe(30)


def tail_of(secret: str) -> str:
    return secret[-12:].casefold()


@pytest.mark.parametrize("mark", list(SPLITTERS.values()), ids=list(SPLITTERS))
def test_a_secret_split_by_invisible_characters_is_removed_whole(canary, mark):
    literal = odd_literal()
    scrubber = Scrubber([literal])
    for secret in (canary, literal):
        split = mark.join(secret[i : i + 5] for i in range(0, len(secret), 5))
        out = scrubber.scrub(f"before {split} after")
        assert tail_of(secret) not in out.casefold(), out
        assert out == f"before {REDACTED} after"
        assert scrubber.contains_secret(split)


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
def test_a_secret_in_another_case_or_with_dashes_swapped_is_removed(canary, inference_canary, variant):
    literal = odd_literal()
    scrubber = Scrubber([literal])
    for secret in (canary, inference_canary, literal):
        shown = variant(secret)
        out = scrubber.scrub(f"description: {shown}.")
        assert out == f"description: {REDACTED}.", (shown, out)
        assert scrubber.contains_secret(shown)


def test_a_secret_learned_later_is_removed_in_any_form(canary):
    scrubber = Scrubber()
    created = "x" + secrets.token_urlsafe(30)  # a new key's secret of some future, unprefixed format
    scrubber.add(created)
    mangled = created.upper().replace("-", "_")[:10] + "\u200b" + created.upper().replace("-", "_")[10:]
    assert scrubber.scrub(mangled) == REDACTED


def test_text_without_a_secret_comes_back_unchanged_even_with_invisible_characters():
    text = "café\u200b menu – «quoted» …\ttab\nline"
    assert Scrubber([odd_literal()]).scrub(text) == text


def test_normalising_keeps_line_breaks_tabs_and_the_ellipsis():
    assert normalize("a\u200bb\tc\nd…\x00") == "ab\tc\nd…"
    assert normalize("plain ascii stays") == "plain ascii stays"


def test_an_explicit_reveal_survives_while_its_variants_do_not(canary):
    scrubber = Scrubber([canary])
    text = f"secret: {canary}; again {canary.lower()}"
    assert scrubber.scrub_except(text, {canary}) == f"secret: {canary}; again {REDACTED}"
