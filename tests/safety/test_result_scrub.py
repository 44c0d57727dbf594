"""The result scrubber's shortcuts: one search over a clean result, the full walk otherwise.

Most results hold no secret, so `ScrubResults` first searches all of a result's strings at
once and hands a clean result back untouched, and `Scrubber` looks for the word "bearer"
before it runs the slower bearer-token pattern. These tests hold each shortcut to what the
full work gives, for any mix of secrets, literals and bearer tokens in nested results.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_types import CallToolResult, TextContent

from tests.safety.conftest import make_canary
from venice_keys_mcp.safety.result_scrub import ScrubResults, allow_in_result
from venice_keys_mcp.safety.secrets import BEARER_PATTERN, REDACTED, SECRET_PATTERN, Scrubber, normalize

pytestmark = pytest.mark.anyio

#: A configured admin key that does not look like a Venice secret: only the literal list knows it.
LITERAL = "plain-admin-" + secrets.token_hex(8)


class Ctx:
    method = "tools/call"


def scrub_results() -> ScrubResults:
    return ScrubResults(Scrubber([LITERAL]))


async def through(middleware: ScrubResults, result: Any, *, reveal: str | None = None) -> Any:
    async def call_next(_ctx: Any) -> Any:
        if reveal is not None:
            allow_in_result(reveal)
        return result

    return await middleware(Ctx(), call_next)


def tool_result(*texts: str, structured: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tools/call result as the SDK hands it to middleware: the wire dict."""
    out: dict[str, Any] = {"content": [{"type": "text", "text": t} for t in texts], "isError": False}
    if structured is not None:
        out["structuredContent"] = structured
    return out


async def test_a_clean_result_is_handed_back_as_is() -> None:
    result = tool_result("key abc …123456 «plain»", structured={"keys": [{"id": "k1", "n": 3}], "total": 1})
    assert await through(scrub_results(), result) is result


@pytest.mark.parametrize(
    "leak",
    [
        pytest.param(lambda: make_canary("ADMIN"), id="admin-shaped"),
        pytest.param(lambda: make_canary("INFERENCE"), id="inference-shaped"),
        pytest.param(lambda: LITERAL, id="configured-literal"),
        pytest.param(lambda: "Bearer " + secrets.token_urlsafe(16), id="bearer"),
    ],
)
async def test_a_secret_deep_in_one_string_is_removed(leak: Any) -> None:
    secret = leak()
    result = tool_result("first", structured={"a": [{"b": ["x", secret + " tail"]}], "n": 1})
    out = await through(scrub_results(), result)
    leaf = out["structuredContent"]["a"][0]["b"][1]
    assert secret not in str(out) and REDACTED in leaf and leaf.endswith(" tail")
    assert out["content"][0]["text"] == "first"


async def test_a_bearer_token_at_the_start_of_a_later_string_is_found() -> None:
    """Strings are joined with NUL for the search; the word boundary before "Bearer" must survive it."""
    token = secrets.token_urlsafe(16)
    out = await through(scrub_results(), tool_result("word", f"Bearer {token}"))
    assert token not in str(out) and out["content"][1]["text"] == f"Bearer {REDACTED}"


async def test_an_explicit_reveal_passes_while_other_secrets_are_removed() -> None:
    revealed, other = make_canary("INFERENCE"), make_canary("ADMIN")
    out = await through(scrub_results(), tool_result(f"new {revealed}", f"old {other}"), reveal=revealed)
    assert out["content"][0]["text"] == f"new {revealed}"
    assert out["content"][1]["text"] == f"old {REDACTED}"


async def test_a_model_result_is_scrubbed_and_stays_a_model() -> None:
    secret = make_canary("ADMIN")
    clean = CallToolResult(content=[TextContent(type="text", text="nothing here")])
    dirty = CallToolResult(content=[TextContent(type="text", text=f"oops {secret}")])
    middleware = scrub_results()

    assert await through(middleware, clean) is clean
    out = await through(middleware, dirty)
    assert isinstance(out, CallToolResult) and out.content[0].text == f"oops {REDACTED}"


async def test_other_methods_are_not_touched() -> None:
    class ListCtx:
        method = "tools/list"

    secret = make_canary("ADMIN")
    result = {"tools": [{"name": "t", "description": secret}]}

    async def call_next(_ctx: Any) -> Any:
        return result

    assert await scrub_results()(ListCtx(), call_next) is result


# -- the shortcut never changes an answer -----------------------------------------------

PIECES = st.sampled_from(["", " ", "\x00", "Bearer ", "bearer\t", "VENICE_ADMIN_KEY", "_", "a", "é", "-"])


def leaky_text() -> st.SearchStrategy[str]:
    """Text around secrets, literals and bearer tokens, and fragments that almost are one."""
    secret = st.builds(
        lambda kind, body: f"VENICE_{kind}_KEY_{body}",
        st.sampled_from(["ADMIN", "INFERENCE"]),
        st.text(alphabet="abcXYZ019_-", min_size=1, max_size=30),
    )
    token = st.text(alphabet="abcXYZ019._~+/-", min_size=6, max_size=12)
    part = st.one_of(st.text(max_size=8), PIECES, secret, token, st.just(LITERAL), st.just(LITERAL[:-1]))
    return st.lists(part, max_size=5).map("".join)


results = st.recursive(
    st.one_of(leaky_text(), st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(result=results)
def test_the_shortcut_gives_what_the_full_walk_gives(result: Any) -> None:
    middleware = scrub_results()
    assert middleware._scrub(result, set()) == middleware._walk(result, set())


BEARERS = st.sampled_from(["Bearer ", "bearer  ", "BEARER\t", "bEaReR\n", "xBearer ", "Bear er ", "Bearer"])


@given(
    text=st.lists(
        st.one_of(st.text(max_size=6), BEARERS, st.text(alphabet="abcXYZ019._~+/-=", max_size=12)), max_size=6
    ).map("".join)
)
def test_the_bearer_word_test_never_lets_a_token_through(text: str) -> None:
    scrubber = Scrubber()
    normal = normalize(text)  # matching runs on the normalised text (see test_scrubber's split keys)
    full = BEARER_PATTERN.sub(r"\1" + REDACTED, SECRET_PATTERN.sub(REDACTED, normal))
    assert scrubber.scrub(text) == (text if full == normal else full)
    assert scrubber.contains_secret(text) is (full != normal)
