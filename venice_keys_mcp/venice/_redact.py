"""Remove secrets from text before it reaches a message, a log line or a result.

The client applies `redact` to everything that came from the network or from a
transport error before putting it in an exception; the safety layer reuses it for
results, logs and the audit trail.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

#: Anything shaped like a Venice secret (the prefix is how Venice issues every key).
SECRET_PATTERN = re.compile(r"VENICE_(ADMIN|INFERENCE)_KEY_[A-Za-z0-9_-]+")

# An echoed Authorization header value: "Bearer <credential>". The scheme word goes too,
# so that nothing downstream can even tell a header was echoed.
_BEARER_PATTERN = re.compile(r"\bBearer\s+[^\s\"',;]+", re.IGNORECASE)


def redact(text: str, *extra: str) -> str:
    """Return `text` with Venice-shaped secrets, bearer credentials and `extra` strings replaced.

    `extra` holds secrets that may not look like Venice keys (the configured key, a
    wallet signature); empty strings are ignored. Longer ones are replaced first so a
    secret that contains another is removed whole.
    """
    text = _BEARER_PATTERN.sub(REDACTED, text)
    for secret in sorted({s for s in extra if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return SECRET_PATTERN.sub(REDACTED, text)
