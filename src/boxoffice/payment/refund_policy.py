"""How much of a booking can be refunded, and when. Pure functions.

A policy has a cut-off (no refunds once the showtime is closer than that), a fee (percent,
rounded half up, and/or fixed per refund; never more than what is refunded) and says whether
single tickets of a booking may be refunded or only the whole booking.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from boxoffice.payment.errors import PartialRefundNotAllowed, RefundWindowClosed
from boxoffice.payment.pricing import round_half_up_div


@dataclass(frozen=True, slots=True)
class RefundPolicy:
    cutoff: timedelta = timedelta(hours=24)
    """No refunds once the showtime starts within this long."""
    fee_percent_bp: int = 0
    """Kept by the organizer, in basis points of the refunded tickets' price."""
    fee_fixed_minor: int = 0
    """Kept per refund, on top of the percent fee."""
    allow_partial: bool = True
    """Whether single tickets of a booking may be refunded."""

    def __post_init__(self) -> None:
        if self.cutoff < timedelta(0) or min(self.fee_percent_bp, self.fee_fixed_minor) < 0:
            raise ValueError("cut-off and fees cannot be negative")
        if self.fee_percent_bp > 10_000:
            raise ValueError("a percent fee cannot exceed 100%")


@dataclass(frozen=True, slots=True)
class RefundQuote:
    paid_minor: int
    """What the buyer paid for the tickets being refunded."""
    fee_minor: int
    refundable_minor: int
    ticket_count: int
    full: bool
    """Whether every ticket of the booking is refunded."""


def quote_refund(
    policy: RefundPolicy,
    paid_per_ticket_minor: Sequence[int],
    selected: Sequence[int],
    *,
    starts_at: datetime,
    now: datetime,
) -> RefundQuote:
    """The refund for tickets `selected` (indexes into the booking's tickets)."""
    if any(p < 0 for p in paid_per_ticket_minor):
        raise ValueError("paid amounts cannot be negative")
    chosen = set(selected)
    if not chosen or len(chosen) != len(selected):
        raise ValueError("select each ticket once, at least one")
    if not chosen <= set(range(len(paid_per_ticket_minor))):
        raise ValueError("selected ticket out of range")
    if now > starts_at - policy.cutoff:
        raise RefundWindowClosed(
            extra={"refunds_closed_at": (starts_at - policy.cutoff).isoformat()}
        )
    full = len(chosen) == len(paid_per_ticket_minor)
    if not full and not policy.allow_partial:
        raise PartialRefundNotAllowed()
    paid = sum(paid_per_ticket_minor[i] for i in chosen)
    fee = min(
        paid, round_half_up_div(paid * policy.fee_percent_bp, 10_000) + policy.fee_fixed_minor
    )
    return RefundQuote(
        paid_minor=paid,
        fee_minor=fee,
        refundable_minor=paid - fee,
        ticket_count=len(chosen),
        full=full,
    )
