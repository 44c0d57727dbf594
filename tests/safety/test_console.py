"""The CLI's output chokepoint: scrubbing streams, the hand-on to the runtime's scrubber, `display_url`."""

from __future__ import annotations

import io
import secrets
import sys

from venice_keys_mcp.safety import console
from venice_keys_mcp.safety.console import display_url, env_secrets, scrubbed_output, url_secrets
from venice_keys_mcp.safety.secrets import REDACTED, Scrubber


class Captured(io.StringIO):
    """Stands in for the real stream; `buffer` for an MCP transport, as on a real stdout."""

    buffer = io.BytesIO()


def test_a_secret_printed_in_pieces_is_matched_whole(canary, monkeypatch):
    out = Captured()
    monkeypatch.setattr(sys, "stdout", out)
    with scrubbed_output(Scrubber()):
        sys.stdout.write(canary[:20])
        sys.stdout.write(canary[20:] + " end\n")
        print("partial", canary, end="")
    assert canary not in out.getvalue() and canary[20:] not in out.getvalue()
    assert out.getvalue() == f"{REDACTED} end\npartial {REDACTED}"
    assert sys.stdout is out  # put back when the command ends


def test_the_runtime_scrubber_takes_over_and_learns_what_the_first_knew(monkeypatch):
    configured, created = "sk_" + secrets.token_urlsafe(24), "nk_" + secrets.token_urlsafe(24)
    err = Captured()
    monkeypatch.setattr(sys, "stderr", err)
    runtime_scrubber = Scrubber()
    with scrubbed_output(Scrubber([configured])):
        console.use(runtime_scrubber)
        runtime_scrubber.add(created)  # a key created while serving
        print(f"{configured} {created.upper()}", file=sys.stderr)
    assert err.getvalue() == f"{REDACTED} {REDACTED}\n"


def test_allowed_strings_are_printed_and_nothing_else(canary, inference_canary, monkeypatch):
    out = Captured()
    monkeypatch.setattr(sys, "stdout", out)
    with scrubbed_output(Scrubber()):
        console.allow(canary)
        print(canary, inference_canary)
    assert out.getvalue() == f"{canary} {REDACTED}\n"


def test_display_url_drops_userinfo_query_and_fragment():
    pw, q = secrets.token_urlsafe(12), secrets.token_urlsafe(30)
    url = f"https://me:{pw}@api.example.org:8443/api/v1?api_key={q}#frag"
    assert display_url(url) == "https://api.example.org:8443/api/v1"
    assert display_url("http://[::1]:9/x") == "http://[::1]:9/x"
    assert display_url("http://host:notaport/") == "(an unreadable URL)"
    assert set(url_secrets(url)) == {"me", pw, q}


def test_env_secrets_names_every_secret_variable_and_the_url_credentials(canary):
    q = secrets.token_urlsafe(30)
    env = {
        "VENICE_API_KEY": canary,
        "VENICE_KEYS_SIGNING_KEY": "s" * 40,
        "VENICE_KEYS_CONFIRM": "auto",
        "VENICE_BASE_URL": f"https://host/api/v1?api_key={q}",
    }
    assert env_secrets(env) == [canary, "s" * 40, q]


def test_an_unexpected_traceback_passes_the_scrubber_too(canary, monkeypatch, capsys):
    from venice_keys_mcp import cli

    def crash(argv):
        raise RuntimeError(f"failed near {canary}")

    monkeypatch.setattr(cli, "_main", crash)
    assert cli.main(["doctor"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "RuntimeError: failed near [REDACTED]" in err and canary not in err
