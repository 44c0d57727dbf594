"""Input types shared by the write tools, constrained exactly as Venice constrains them."""

from typing import Annotated, Literal

from pydantic import Field

EXPIRES_PATTERN = r"^(\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d{3})?Z)?)?$"

Description = Annotated[str, Field(min_length=1, max_length=64)]
Limit = Annotated[float | None, Field(ge=0, le=9_999_999_999)]
Period = Literal["EPOCH", "MONTH", "LIFETIME"]
Privacy = Literal["ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"]
Expiry = Annotated[
    str | None,
    Field(pattern=EXPIRES_PATTERN, description="UTC; omit: never"),
]
Token = Annotated[str | None, Field(description="Only once the user approved")]
