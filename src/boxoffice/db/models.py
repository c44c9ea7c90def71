"""Every table, imported in one place so Alembic and tests see the whole schema."""

from boxoffice.auth.models import User
from boxoffice.catalog.models import Event, PriceTier, Showtime
from boxoffice.db.base import Base
from boxoffice.inventory.models import InventoryUnit
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.notification.models import (
    EventInterest,
    Notification,
    NotificationPreference,
    OrganizerFollow,
    SaleAnnouncement,
    WebhookDelivery,
    WebhookEndpoint,
)
from boxoffice.venue.models import City, Seat, Section, Venue

__all__ = [
    "Base",
    "City",
    "Event",
    "EventInterest",
    "InventoryUnit",
    "Notification",
    "NotificationPreference",
    "OrganizerFollow",
    "OutboxEvent",
    "PriceTier",
    "SaleAnnouncement",
    "Seat",
    "Section",
    "Showtime",
    "User",
    "Venue",
    "WebhookDelivery",
    "WebhookEndpoint",
]
