"""Every table, imported in one place so Alembic and tests see the whole schema."""

from boxoffice.auth.models import User
from boxoffice.catalog.models import Event, PriceTier, SearchTerm, Showtime, UserLocation
from boxoffice.db.base import Base
from boxoffice.inventory.models import InventoryUnit
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.review.models import Review
from boxoffice.venue.models import City, Seat, Section, Venue

__all__ = [
    "Base",
    "City",
    "Event",
    "InventoryUnit",
    "OutboxEvent",
    "PriceTier",
    "Review",
    "SearchTerm",
    "Seat",
    "Section",
    "Showtime",
    "User",
    "UserLocation",
    "Venue",
]
