"""Input types shared by the write tools, constrained exactly as Venice constrains them."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AfterValidator, Field

from venice_keys_mcp.settings import MAX_CAP
from venice_keys_mcp.venice.models import KEY_ID_PATTERN, parse_expiry

EXPIRES_PATTERN = r"^(\d{4}(-\d\d){2}(T\d\d(:\d\d){2}(\.\d{3})?Z)?)?$"
#: As above without `""`: on a patch, removing the expiry is said once, with `remove`.
SET_EXPIRES_PATTERN = r"^\d{4}(-\d\d){2}(T\d\d(:\d\d){2}(\.\d{3})?Z)?$"

KeyId = Annotated[str, Field(pattern=KEY_ID_PATTERN)]
Description = Annotated[str, Field(min_length=1, max_length=64)]


def _at_most_max(value: float | None) -> float | None:
    """Venice's ceiling on a cap (`settings.MAX_CAP`). Checked here, before any request, but not
    published: no caller comes near it, and every byte of an input schema is read by the model."""
    if value is not None and value > MAX_CAP:
        raise ValueError(f"must be at most {MAX_CAP}")
    return value


Limit = Annotated[float | None, Field(ge=0), AfterValidator(_at_most_max)]
Period = Annotated[Literal["EPOCH", "MONTH", "LIFETIME"], Field(description="EPOCH: daily")]
Privacy = Literal["ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"]
Expiry = Annotated[
    str | None,
    Field(pattern=EXPIRES_PATTERN, description="UTC; omit: never"),
]
#: Undescribed: the name says what it asks, and the tool's description that a person decides.
Reveal = bool
#: Undescribed on purpose: the answer that hands out a token says, right there, that it is
#: for a retry only once the user approves, and so do the server's instructions.
Token = str | None
#: Likewise: the awaiting_approval answer says when to send it back. Any string is looked up;
#: one that names no approval is refused as unknown.
ApprovalId = str | None


def checked_expiry(value: str | None, now: datetime | None = None) -> datetime | None:
    """`expires_at` as a datetime, refusing an impossible date (2026-02-30) or a past one.

    Both before any request: Venice refuses a past date too, but in its own field's name
    (`expiresAt`), and a refused create still counts against its 20 creations a minute.
    """
    try:
        when = parse_expiry(value)
    except ValueError:
        raise ToolError(
            f"expires_at={value!r} is not a real date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)."
        ) from None
    if when is not None and when <= (now or datetime.now(UTC)):
        raise ToolError(f"expires_at must be in the future (UTC); {value} has passed.")
    return when
