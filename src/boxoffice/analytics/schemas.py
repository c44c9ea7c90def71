import uuid
from datetime import date

from pydantic import BaseModel, Field

from boxoffice.kit.money import Money


class AnalyticsScope(BaseModel):
    """What the numbers cover: the date range (UTC days, inclusive) and the filters."""

    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    event_id: uuid.UUID | None
    organizer_id: uuid.UUID | None


class Totals(BaseModel):
    """Bookings created in the range, by their current status."""

    bookings: int
    bookings_by_status: dict[str, int]
    tickets_sold: int
    """Tickets of confirmed bookings."""
    revenue: list[Money]
    """Sum of confirmed, non-complimentary bookings' totals, per currency."""
    booking_fees: list[Money]
    """Of `revenue`, the booking fees the events added (`fee_*`), per currency."""
    cancellation_rate: float
    """cancelled / (confirmed + cancelled + refunded); 0 when there are none."""


class DailyStat(BaseModel):
    day: date
    created: int
    """Bookings created that day."""
    confirmed: int
    """Bookings confirmed that day."""
    cancelled: int
    """Bookings cancelled that day."""
    revenue: list[Money]
    """Totals of bookings confirmed that day and still confirmed (not complimentary)."""


class EventUtilization(BaseModel):
    """Inventory of the event's non-cancelled showtimes, now."""

    event_id: uuid.UUID
    title: str
    capacity: int
    sold: int
    held: int
    """Units under a live hold (held_until in the future)."""
    blocked: int
    available: int
    utilization: float
    """sold / capacity; 0 when the capacity is 0."""


class TopEvent(BaseModel):
    event_id: uuid.UUID
    title: str
    currency: str
    revenue_minor: int
    """Confirmed, non-complimentary bookings' totals."""
    tickets_sold: int
    bookings: int


class Analytics(BaseModel):
    scope: AnalyticsScope
    totals: Totals
    daily: list[DailyStat]
    utilization: list[EventUtilization]
    top_events: list[TopEvent]


class StatsOverview(BaseModel):
    users_by_role: dict[str, int]
    """Users not deleted, by role."""
    events_by_status: dict[str, int]
    upcoming_showtimes: int
    """Scheduled showtimes that have not started yet."""
    bookings_today: int
    """Bookings created since midnight UTC."""
