"""Every table, imported in one place so Alembic and tests see the whole schema."""

from boxoffice.auth.models import User
from boxoffice.catalog.models import Event, PriceTier, Showtime
from boxoffice.coupon.models import Coupon, CouponRedemption
from boxoffice.db.base import Base
from boxoffice.inventory.models import InventoryUnit
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.payment.models import Payment, PaymentWebhookEvent, Refund
from boxoffice.venue.models import City, Seat, Section, Venue

__all__ = [
    "Base",
    "City",
    "Coupon",
    "CouponRedemption",
    "Event",
    "InventoryUnit",
    "OutboxEvent",
    "Payment",
    "PaymentWebhookEvent",
    "PriceTier",
    "Refund",
    "Seat",
    "Section",
    "Showtime",
    "User",
    "Venue",
]
