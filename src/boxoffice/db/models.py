"""Every table, imported in one place so Alembic and tests see the whole schema."""

from boxoffice.auth.models import (
    AuthSession,
    OAuthState,
    PhoneVerification,
    RefreshToken,
    User,
    UserIdentity,
)
from boxoffice.catalog.models import Event, PriceTier, Showtime
from boxoffice.db.base import Base
from boxoffice.inventory.models import InventoryUnit
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.venue.models import City, Seat, Section, Venue

__all__ = [
    "AuthSession",
    "Base",
    "City",
    "Event",
    "InventoryUnit",
    "OAuthState",
    "OutboxEvent",
    "PhoneVerification",
    "PriceTier",
    "RefreshToken",
    "Seat",
    "Section",
    "Showtime",
    "User",
    "UserIdentity",
    "Venue",
]
