import uuid
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from boxoffice.booking.models import BookingStatus, HoldStatus, TicketStatus
from boxoffice.catalog.schemas import AccessCode
from boxoffice.kit.ids import VERSION_MAX, RowId
from boxoffice.kit.schema_rules import UNIQUE, both, given, one_way, unset, when

MAX_QUANTITY = 100
MAX_SYNC_SCANS = 500
MAX_MANIFEST_PAGE = 1000


ACCESSIBLE = (
    "Best available: wheelchair-accessible seats only. Best available never picks them "
    "otherwise; choosing one by its seat id is always allowed. When none are left, the "
    "409's waitlist (joined or suggested) is for accessible seats alone"
)


class HoldCreate(BaseModel):
    """Exactly one of `showtime_id` and `event_id`; exactly one of `seat_ids`, `unit_ids`
    or `quantity`.

    With `quantity`: a general-admission `section_id` gives that many places; otherwise the
    best available adjacent seats (of `section_id` or `price_tier_id` if given).
    """

    # The rules across fields, in the OpenAPI document too (as `_one_way` checks them).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                one_way({"showtime_id": "string"}, {"event_id": "string"}),
                one_way({"seat_ids": "array"}, {"unit_ids": "array"}, {"quantity": "integer"}),
                when("accessible", True, given(quantity="integer")),
            ]
        },
    )

    showtime_id: uuid.UUID | None = Field(default=None, description="The showtime (or event_id)")
    event_id: uuid.UUID | None = Field(
        default=None, description="An event with exactly one showtime on sale"
    )
    seat_ids: list[RowId] | None = Field(
        default=None, min_length=1, max_length=MAX_QUANTITY, json_schema_extra=UNIQUE
    )
    unit_ids: list[RowId] | None = Field(
        default=None, min_length=1, max_length=MAX_QUANTITY, json_schema_extra=UNIQUE
    )
    quantity: int | None = Field(default=None, ge=1, le=MAX_QUANTITY)
    section_id: uuid.UUID | None = None
    price_tier_id: uuid.UUID | None = None
    allow_split: bool = Field(
        default=False, description="Best available: accept non-adjacent seats if no block fits"
    )
    accessible: bool = Field(default=False, description=ACCESSIBLE)
    access_code: AccessCode | None = Field(
        default=None, description="During the event's presale: one of its access codes"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.showtime_id is None) == (self.event_id is None):
            raise ValueError("give exactly one of showtime_id and event_id")
        ways = [self.seat_ids is not None, self.unit_ids is not None, self.quantity is not None]
        if sum(ways) != 1:
            raise ValueError("give exactly one of seat_ids, unit_ids and quantity")
        if self.accessible and self.quantity is None:
            raise ValueError("accessible is for best available (quantity); seat ids name seats")
        for ids in (self.seat_ids, self.unit_ids):
            if ids is not None and len(set(ids)) != len(ids):
                raise ValueError("seat and unit ids must not repeat")
        return self


class HoldRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hold_id: uuid.UUID
    coupon_code: str | None = Field(
        default=None, min_length=1, max_length=64, description="Creating a booking: a coupon"
    )


class HeldUnit(BaseModel):
    unit_id: int
    section_id: uuid.UUID
    seat_id: int | None
    label: str


class Hold(BaseModel):
    id: uuid.UUID
    showtime_id: uuid.UUID
    status: HoldStatus
    quantity: int
    created_at: datetime
    expires_at: datetime
    max_expires_at: datetime
    units: list[HeldUnit]


class BookingCreate(BaseModel):
    """From a hold (`hold_id`), or in one call (`showtime_id`/`event_id` + `quantity`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                both(given(hold_id="string"), unset("showtime_id", "event_id", "quantity")),
                both(given(showtime_id="string"), unset("hold_id", "event_id")),
                both(given(event_id="string"), unset("hold_id", "showtime_id")),
            ]
        },
    )

    hold_id: uuid.UUID | None = None
    showtime_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    quantity: int | None = Field(default=None, ge=1, le=MAX_QUANTITY)
    coupon_code: str | None = Field(default=None, min_length=1, max_length=64)
    section_id: uuid.UUID | None = None
    price_tier_id: uuid.UUID | None = None
    allow_split: bool = False
    accessible: bool = Field(default=False, description=ACCESSIBLE)
    access_code: AccessCode | None = Field(
        default=None, description="One call, during the event's presale: one of its codes"
    )
    join_waitlist: bool = Field(
        default=True,
        description="One call only: when sold out, join the showtime's waitlist for this "
        "quantity; the 409 `sold_out` answer then carries `waitlist.entry_id`",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.hold_id is not None:
            if any(v is not None for v in (self.showtime_id, self.event_id, self.quantity)):
                raise ValueError("with hold_id, give nothing else")
            return self
        if (self.showtime_id is None) == (self.event_id is None):
            raise ValueError("give hold_id, or one of showtime_id and event_id")
        if self.quantity is None:
            self.quantity = 1
        return self


class VersionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None,
        ge=1,
        le=VERSION_MAX,
        description="The version you read; a changed booking is a 409",
    )


class SeatAssignment(BaseModel):
    """Seed 000's body: add seats to a pending booking (`locked`), optionally confirming."""

    model_config = ConfigDict(extra="forbid")

    seat_ids: list[RowId] = Field(min_length=1, max_length=MAX_QUANTITY)
    status: str = Field(default="locked", pattern="^(locked|booked)$")


class TicketOut(BaseModel):
    id: uuid.UUID
    unit_id: int
    section_id: uuid.UUID
    seat_id: int | None
    label: str
    price_minor: int
    currency: str
    status: TicketStatus
    code: str | None = Field(description="Signed check-in code, once the ticket is issued")
    checked_in_at: datetime | None = Field(
        default=None, description="When the ticket was admitted at the door"
    )
    holder_id: uuid.UUID | None = Field(
        default=None,
        description="The account the ticket was transferred to (null: the booking's buyer); "
        "its code then shows only to them, under `GET /api/users/me/tickets`",
    )


class BookingOut(BaseModel):
    id: uuid.UUID
    reference: str = Field(
        description="What e-mails call the booking (the id's first 8 hex digits, upper case); "
        "find it with GET /api/bookings?reference="
    )
    user_id: uuid.UUID
    showtime_id: uuid.UUID
    event_id: uuid.UUID
    hold_id: uuid.UUID
    status: BookingStatus
    quantity: int
    total_minor: int
    currency: str
    expires_at: datetime
    version: int
    complimentary: bool
    pricing: dict[str, Any] | None = Field(
        default=None,
        description="Price breakdown: per-ticket price, discount, fees, totals, coupon code",
    )
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    tickets: list[TicketOut]


class SeatOut(BaseModel):
    unit_id: int
    seat_id: int
    row: str
    number: int
    x: float
    y: float
    accessible: bool
    status: str = Field(description="available, held, sold or blocked")
    held_until: datetime | None = None


class SectionMap(BaseModel):
    section_id: uuid.UUID
    name: str
    kind: str
    sort_order: int
    price_tier: dict[str, object] | None = Field(
        description="`id`, `name`, `price_minor`, `fee_minor` (one ticket's booking fees: the "
        "event's percent and per-ticket ones), `price_with_fees_minor` and `currency`"
    )
    capacity: int
    available: int
    held: int
    sold: int
    blocked: int
    seats: list[SeatOut]


class SeatMap(BaseModel):
    showtime_id: uuid.UUID
    version: int
    generated_at: datetime
    sections: list[SectionMap]


class CheckInCreate(BaseModel):
    """A scanned code; or, when the code cannot be scanned (a dead phone), the ticket's id,
    found in the door list after the staff checked the holder."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=one_way({"code": "string"}, {"ticket_id": "string"}),
    )

    code: str | None = Field(
        default=None, min_length=1, max_length=128, description="The ticket's signed code"
    )
    ticket_id: uuid.UUID | None = Field(
        default=None, description="Admit by id, without the code (staff checked the holder)"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.code is None) == (self.ticket_id is None):
            raise ValueError("give exactly one of code and ticket_id")
        return self


class CheckIn(BaseModel):
    """An admitted ticket: what the door shows."""

    ticket_id: uuid.UUID
    booking_id: uuid.UUID
    showtime_id: uuid.UUID
    unit_id: int
    section_id: uuid.UUID
    seat_id: int | None
    label: str
    checked_in_at: datetime | None
    checked_in_by: uuid.UUID | None


class DoorTicket(CheckIn):
    """A live ticket on the door list."""

    holder_name: str = Field(description="The name of the account that booked it")


class CheckInSummary(BaseModel):
    """The door's count for a showtime."""

    showtime_id: uuid.UUID
    tickets_issued: int = Field(description="Live tickets: paid or complimentary, not void")
    checked_in: int
    not_checked_in: int


class CheckInScan(CheckInCreate):
    """A scan a scanner made while it could not reach the server, with when it was made."""

    scanned_at: AwareDatetime = Field(
        description="When the door scanned it (the device's clock; a time ahead of the "
        "server's is recorded as the server's now)"
    )


class CheckInSync(BaseModel):
    """Scans recorded offline, sent when the scanner is back online."""

    model_config = ConfigDict(extra="forbid")

    scans: list[CheckInScan] = Field(min_length=1, max_length=MAX_SYNC_SCANS)


class ScanOutcome(BaseModel):
    """What became of one scan of a sync."""

    index: int = Field(description="The scan's position in the request")
    admitted: bool = Field(description="This scan admitted the ticket (or had, if resent)")
    code: str | None = Field(
        description="Why not: the error code `POST .../check-ins` would have answered "
        "(`ticket_already_checked_in`: someone got in on it first, at `ticket.checked_in_at`)"
    )
    ticket: CheckIn | None = Field(
        description="The ticket, when the scan named one of this showtime (never for an "
        "invalid code)"
    )


class CheckInSyncResult(BaseModel):
    """A sync's outcome, scan by scan, in the request's order."""

    showtime_id: uuid.UUID
    admitted: int
    refused: int
    results: list[ScanOutcome]


class ManifestTicket(BaseModel):
    """A ticket as a scanner needs it to check codes while offline."""

    ticket_id: uuid.UUID
    code_sha256: str = Field(
        description="Hex SHA-256 of the ticket's code (UTF-8): a scanned code is the "
        "ticket's when its hash matches; the code itself is never sent"
    )
    earlier_code_sha256: list[str] = Field(
        default_factory=list,
        description="Hashes of the same code signed with the previous ticket secrets "
        "(`BOXOFFICE_BOOKING_TICKET_SECRETS_PREVIOUS`), which the door still accepts after a "
        "rotation; empty when there are none",
    )
    status: TicketStatus = Field(description="`issued` (admissible) or `void` (cancelled)")
    section_id: uuid.UUID
    seat_id: int | None
    label: str
    checked_in_at: datetime | None


class Manifest(BaseModel):
    """One page of a showtime's scanner manifest, in ticket id order."""

    showtime_id: uuid.UUID
    as_of: datetime = Field(description="The database's time of this read")
    items: list[ManifestTicket]
    next_after: uuid.UUID | None = Field(
        description="Pass as `after` for the next page; null on the last page"
    )
    next: str | None = Field(default=None, description="URL of the next page, if any")


class TicketTransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_email: EmailStr = Field(
        description="The receiver's address: their account's, or where to offer the ticket"
    )


class TicketTransfer(BaseModel):
    """A ticket passed on (`transferred`): the giver's code no longer gets in, the
    receiver's does. Or, where no account has the address yet, offered there (`offered`):
    the address is e-mailed a token to claim it with, and until then the ticket stays the
    giver's."""

    status: Literal["transferred", "offered"]
    ticket_id: uuid.UUID
    booking_id: uuid.UUID
    showtime_id: uuid.UUID
    label: str
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID | None
    """The receiver's account; None while only offered."""
    to_email: str
    transferred_at: datetime
    """When it was given, or offered."""
    offer_id: uuid.UUID | None = None
    """The offer made (`offered`), or the offer claimed (`transferred` by a claim)."""
    offer_expires_at: datetime | None = None
    """An offer can be claimed until the showtime starts."""


class TicketOffer(BaseModel):
    """A ticket the caller offered to an e-mail address, and what became of the offer."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    to_email: str
    status: str
    created_at: datetime
    expires_at: datetime
    """When the showtime starts: an open offer can be claimed until then."""
    closed_at: datetime | None


class TicketsEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    showtime_id: uuid.UUID = Field(description="The showtime whose tickets to e-mail")


class TicketsEmailed(BaseModel):
    """Queued: the worker e-mails the tickets held then (seat, code, QR image)."""

    showtime_id: uuid.UUID
    tickets: int
    """Live tickets the caller holds for the showtime now."""
    email: str
    """Where they go: the account's address."""


class TransferOfferClaim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="The token from the e-mail")


class HeldTicket(TicketOut):
    """A live ticket the caller holds: bought by them, or transferred to them."""

    booking_id: uuid.UUID
    showtime_id: uuid.UUID
    event_id: uuid.UUID
    showtime_starts_at: datetime
    offered_to: str | None = None
    """The address the caller offered it to, while the offer is open."""
