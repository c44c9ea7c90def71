"""Money is integer minor units plus an ISO 4217 code; never floats."""

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", min_length=3, max_length=3)]
"""ISO 4217 alphabetic code, upper case."""

MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="Amount in minor units (cents)")]


class Money(BaseModel):
    amount_minor: MinorUnits
    currency: Currency


# ISO 4217 minor-unit exponents other than 2.
_EXPONENTS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def exponent(currency: str) -> int:
    """Digits after the decimal point in `currency`'s major unit (2 unless ISO 4217 says)."""
    return _EXPONENTS.get(currency.upper(), 2)


def to_minor(amount: Decimal, currency: str) -> int | None:
    """Major units in minor units (ISO 4217 exponent); None when not a whole minor amount."""
    scaled = amount.scaleb(exponent(currency))
    return int(scaled) if scaled == scaled.to_integral_value() else None


def format_minor(amount_minor: int, currency: str) -> str:
    """As a person reads it: `12.50 USD`, `5000 JPY`, `1.250 KWD`."""
    digits = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):.{digits}f} {currency.upper()}"
