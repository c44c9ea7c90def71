"""Money is integer minor units plus an ISO 4217 code; never floats."""

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", min_length=3, max_length=3)]
"""ISO 4217 alphabetic code, upper case."""

MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="Amount in minor units (cents)")]


class Money(BaseModel):
    amount_minor: MinorUnits
    currency: Currency
