"""Every table, imported in one place so Alembic and tests see the whole schema."""

from boxoffice.auth.models import User
from boxoffice.booking.models import Booking, Hold, Ticket
from boxoffice.catalog.models import Event, PriceTier, Showtime
from boxoffice.db.base import Base
from boxoffice.inventory.models import InventoryUnit, InventoryVersion
from boxoffice.kit.idempotency import IdempotencyKey
from boxoffice.kit.jobs import Job, JobSchedule
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.venue.models import City, Seat, Section, Venue

__all__ = [
    "Base",
    "Booking",
    "City",
    "Event",
    "Hold",
    "IdempotencyKey",
    "InventoryUnit",
    "InventoryVersion",
    "Job",
    "JobSchedule",
    "OutboxEvent",
    "PriceTier",
    "Seat",
    "Section",
    "Showtime",
    "Ticket",
    "User",
    "Venue",
]
