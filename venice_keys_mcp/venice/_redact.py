"""Remove secrets from text before it reaches a message, a log line or a result.

The client applies `redact` to everything that came from the network or from a
transport error before putting it in an exception; `redact_upstream` also removes any
long random-looking run, for text written by the other side (an error body, a
transport error). Both normalise first, with the scrubber's own rules
(`safety.secrets.normalize`): a key split by a zero-width or control character is one
key to whoever reads the message, so it is matched whole.
"""

from __future__ import annotations

import functools
import re

# One definition of a secret's shape for the client and the server (greedy about the length:
# a fragment of a secret is still a secret); the client also uses it to recognise a secret in
# a create answer.
from venice_keys_mcp.safety.secrets import LOOSE_SECRET, REDACTED, SECRET_PATTERN, literal_pattern, normalize

# An echoed Authorization header value: "Bearer <credential>". The scheme word goes too,
# so that nothing downstream can even tell a header was echoed.
_BEARER_PATTERN = re.compile(r"\bBearer\s+[^\s\"',;]+", re.IGNORECASE)

#: A run of base64/base64url characters long enough to be a credential (a key's body is
#: 43 of them, a wallet's private key 64 hex digits).
MIN_RUN = 32
_RUN = re.compile(rf"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{{{MIN_RUN},}}=*")
#: Long runs that are names, not secrets: a key id (UUID) and a wallet address.
_NOT_SECRET = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|0x[0-9a-fA-F]{40}"
)
_HEX = frozenset("0123456789abcdefABCDEF")


def redact(text: str, *extra: str) -> str:
    """Return `text` with Venice-shaped secrets, bearer credentials and `extra` strings replaced.

    `extra` holds secrets that may not look like Venice keys (the configured key, a
    wallet signature); empty strings are ignored. They are matched in any case and with
    `-`/`_` swapped, longer ones first so a secret that contains another is removed whole.
    """
    secrets = tuple(sorted({s for s in extra if s}, key=len, reverse=True))
    for secret in secrets:  # as given too, in case normalising would break one apart
        text = text.replace(secret, REDACTED)
    text = _BEARER_PATTERN.sub(REDACTED, normalize(text))
    if secrets:
        text = _extras_re(secrets).sub(REDACTED, text)
    text = SECRET_PATTERN.sub(REDACTED, text)
    return LOOSE_SECRET.sub(REDACTED, text)


def redact_upstream(text: str, *extra: str) -> str:
    """`redact`, and every long run that reads like a random credential replaced too.

    For text the other side wrote: an upstream that echoes a secret in a format nobody
    registered (an unprefixed key, a token, a private key) must not get it through. Key
    ids (UUIDs), wallet addresses and words or paths (a run without upper case, lower
    case and a digit, unless it is all hex) are kept.
    """
    return _RUN.sub(_run_or_redacted, redact(text, *extra))


def _run_or_redacted(match: re.Match[str]) -> str:
    run = match.group()
    if _NOT_SECRET.fullmatch(run):
        return run
    body = run[2:] if run[:2] in ("0x", "0X") else run
    mixed = any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run)
    return REDACTED if mixed or set(body) <= _HEX else run


@functools.lru_cache(maxsize=64)
def _extras_re(secrets: tuple[str, ...]) -> re.Pattern[str]:
    """The extras as one pattern, built once per set (the client passes the same few every request)."""
    parts = [p for p in (literal_pattern(normalize(s)) for s in secrets) if p]
    return re.compile("|".join(parts) if parts else r"(?!)", re.IGNORECASE)
