"""Price breakdown of an order: per-ticket price, discount, fees, total. Pure functions.

Rounding, stated once:
- a percent discount is rounded down to the minor unit (the buyer never gets more than the
  stated percentage), a fixed discount is capped at the subtotal;
- a percent fee is rounded half up to the minor unit; a free order (nothing left to pay after
  the discount) carries no fees;
- order-level amounts are split over tickets in proportion to their price by the largest
  remainder method, so the per-ticket amounts always add up to the order amount exactly
  and no ticket's share of the discount exceeds its price.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from boxoffice.coupon.models import CouponKind


@dataclass(frozen=True, slots=True)
class FeePolicy:
    percent_bp: int = 0
    """Fee in basis points (1/100 of a percent) of the discounted subtotal."""
    per_ticket_minor: int = 0
    per_order_minor: int = 0

    def __post_init__(self) -> None:
        if min(self.percent_bp, self.per_ticket_minor, self.per_order_minor) < 0:
            raise ValueError("fees cannot be negative")

    @classmethod
    def of(cls, source: Any) -> "FeePolicy":
        """The fees of anything carrying an event's three fee columns (an event, a row)."""
        return cls(source.fee_percent_bp, source.fee_per_ticket_minor, source.fee_per_order_minor)


@dataclass(frozen=True, slots=True)
class TicketPrice:
    unit_price_minor: int
    discount_minor: int
    fee_minor: int
    total_minor: int

    def as_dict(self) -> dict[str, int]:
        """`dataclasses.asdict(self)`, without its deep copy of every leaf (every booking
        stores its breakdown)."""
        return {
            "unit_price_minor": self.unit_price_minor,
            "discount_minor": self.discount_minor,
            "fee_minor": self.fee_minor,
            "total_minor": self.total_minor,
        }


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    currency: str
    tickets: tuple[TicketPrice, ...]
    subtotal_minor: int
    discount_minor: int
    fees_minor: int
    total_minor: int

    def as_dict(self) -> dict[str, Any]:
        """As `dataclasses.asdict(self)` (the tickets a list), without its deep copy."""
        return {
            "currency": self.currency,
            "tickets": [t.as_dict() for t in self.tickets],
            "subtotal_minor": self.subtotal_minor,
            "discount_minor": self.discount_minor,
            "fees_minor": self.fees_minor,
            "total_minor": self.total_minor,
        }


def percent_discount(subtotal_minor: int, percent: int) -> int:
    """`percent`% of the subtotal, rounded down."""
    if subtotal_minor < 0 or not 0 <= percent <= 100:
        raise ValueError("subtotal must be >= 0 and percent within 0..100")
    return subtotal_minor * percent // 100


def coupon_discount(kind: CouponKind, value: int, subtotal_minor: int) -> int:
    """What a coupon takes off a subtotal (never more than the subtotal)."""
    if kind is CouponKind.percent:
        return percent_discount(subtotal_minor, value)
    if subtotal_minor < 0 or value < 0:
        raise ValueError("amounts cannot be negative")
    return min(value, subtotal_minor)


def round_half_up_div(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def allocate(total_minor: int, weights: Sequence[int]) -> list[int]:
    """Split `total_minor` over `weights` proportionally (largest remainder, ties to the first)."""
    if total_minor < 0 or any(w < 0 for w in weights):
        raise ValueError("amounts cannot be negative")
    if not weights:
        if total_minor:
            raise ValueError("nothing to allocate over")
        return []
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights, weight_sum = [1] * len(weights), len(weights)
    shares = [total_minor * w // weight_sum for w in weights]
    remainders = [total_minor * w % weight_sum for w in weights]
    left = total_minor - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: -remainders[i])[:left]:
        shares[index] += 1
    return shares


def order_fees(policy: FeePolicy, discounted_subtotal_minor: int, quantity: int) -> int:
    if discounted_subtotal_minor == 0:
        return 0
    return (
        round_half_up_div(discounted_subtotal_minor * policy.percent_bp, 10_000)
        + policy.per_ticket_minor * quantity
        + policy.per_order_minor
    )


def ticket_fee(policy: FeePolicy, price_minor: int) -> int:
    """The fees on one ticket at `price_minor` bought alone, less the per-order fee (which
    comes once per order): what to add to a price to show it all-in."""
    return order_fees(replace(policy, per_order_minor=0), price_minor, 1)


def price_breakdown(
    unit_prices_minor: Sequence[int],
    currency: str,
    *,
    discount_minor: int = 0,
    fees: FeePolicy | None = None,
) -> PriceBreakdown:
    """The full breakdown of an order of tickets at these unit prices."""
    if any(p < 0 for p in unit_prices_minor) or discount_minor < 0:
        raise ValueError("prices and discounts cannot be negative")
    fees = fees or FeePolicy()
    subtotal = sum(unit_prices_minor)
    discount = min(discount_minor, subtotal)
    ticket_discounts = allocate(discount, unit_prices_minor)
    discounted = [p - d for p, d in zip(unit_prices_minor, ticket_discounts, strict=True)]
    fee_total = order_fees(fees, subtotal - discount, len(unit_prices_minor))
    ticket_fees = allocate(fee_total, discounted)
    tickets = tuple(
        TicketPrice(
            unit_price_minor=price,
            discount_minor=ticket_discount,
            fee_minor=fee,
            total_minor=price - ticket_discount + fee,
        )
        for price, ticket_discount, fee in zip(
            unit_prices_minor, ticket_discounts, ticket_fees, strict=True
        )
    )
    return PriceBreakdown(
        currency=currency,
        tickets=tickets,
        subtotal_minor=subtotal,
        discount_minor=discount,
        fees_minor=fee_total,
        total_minor=subtotal - discount + fee_total,
    )
