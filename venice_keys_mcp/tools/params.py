"""Input types shared by the write tools, constrained exactly as Venice constrains them."""

from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from pydantic import Field

EXPIRES_PATTERN = r"^(\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d{3})?Z)?)?$"
#: As above without `""`: on a patch, removing the expiry is said once, with `remove`.
SET_EXPIRES_PATTERN = r"^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d{3})?Z)?$"

Description = Annotated[str, Field(min_length=1, max_length=64)]
Limit = Annotated[float | None, Field(ge=0, le=9_999_999_999)]
Period = Annotated[Literal["EPOCH", "MONTH", "LIFETIME"], Field(description="EPOCH: daily")]
Privacy = Literal["ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"]
Expiry = Annotated[
    str | None,
    Field(pattern=EXPIRES_PATTERN, description="UTC; omit: never"),
]
Reveal = Annotated[bool, Field(description="Also return it")]
Token = Annotated[str | None, Field(description="Only once the user approved")]
ApprovalId = Annotated[
    str | None, Field(max_length=64, description="From awaiting_approval, once the person approved")
]


def parse_expiry(value: str | None) -> datetime | None:
    """Venice's `expiresAt` forms as a UTC datetime (`""` or None: no expiry)."""
    if not value:
        return None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
