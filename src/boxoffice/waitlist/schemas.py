import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from boxoffice.booking.schemas import MAX_QUANTITY
from boxoffice.kit.schema_rules import one_way
from boxoffice.waitlist.models import EntryStatus


class EntryCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=one_way({"showtime_id": "string"}, {"event_id": "string"}),
    )

    showtime_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = Field(
        default=None, description="An event with exactly one showtime on sale"
    )
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)
    accessible: bool = Field(
        default=False,
        description="Wait for wheelchair places (seats flagged accessible) only: offers are "
        "of those seats alone (adjacent, or split if need be). Otherwise offers are of other "
        "seats, and of accessible ones only once the event has released them to everyone.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.showtime_id is None) == (self.event_id is None):
            raise ValueError("give exactly one of showtime_id and event_id")
        return self


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    showtime_id: uuid.UUID
    quantity: int
    accessible: bool
    status: EntryStatus
    position: int | None = Field(
        default=None, description="1 for the next entry to be offered units (waiting only)"
    )
    hold_id: uuid.UUID | None = Field(
        default=None, description="While offered: book it with POST /api/bookings/create"
    )
    offer_expires_at: datetime | None
    created_at: datetime


class WaitlistSummary(BaseModel):
    showtime_id: uuid.UUID
    entries_waiting: int
    quantity_waiting: int
    offers_open: int
    quantity_offered: int
    accessible_quantity_waiting: int = Field(
        description="Of `quantity_waiting`, places waited for by entries asking for "
        "wheelchair places alone"
    )
