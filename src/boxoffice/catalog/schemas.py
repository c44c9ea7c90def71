import enum
import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, model_validator

from boxoffice.catalog.models import EventStatus, EventType, ShowtimeStatus
from boxoffice.kit.money import Currency, MinorUnits, Money
from boxoffice.kit.schema_rules import at_least_one
from boxoffice.venue.schemas import Latitude, Longitude

AccessCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{3,40}$",
        description="A presale access code (letters, digits, `_`, `-`; case does not matter)",
        examples=["FANCLUB26"],
    ),
    # Upper-cased on the way in, where codes are set and where they are given alike.
    AfterValidator(str.upper),
]


ACCESSIBLE_RELEASE = (
    "Hours before each showtime starts when its unsold wheelchair-accessible seats join "
    "best available for every buyer (until then best available keeps them for those who "
    "ask with `accessible`); null: kept to the end"
)


class EventSort(enum.Enum):
    """Sort keys of event lists (a plain Enum: `title` would shadow str.title)."""

    starts_at = "starts_at"
    created_at = "created_at"
    title = "title"
    price = "price"


class PriceTierIn(BaseModel):
    section_id: uuid.UUID
    name: str = Field(min_length=1, max_length=80)
    price_minor: MinorUnits
    currency: Currency


class PriceTierUpdate(BaseModel):
    """A tier's new name or price. The currency stays: a booking is in one currency."""

    model_config = ConfigDict(json_schema_extra=at_least_one(name="string", price_minor="integer"))

    name: str | None = Field(default=None, min_length=1, max_length=80)
    price_minor: MinorUnits | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.name is None and self.price_minor is None:
            raise ValueError("give name, price_minor or both")
        return self


class ShowtimeCreate(BaseModel):
    """Times without an offset are read in the venue's time zone."""

    venue_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    price_tiers: list[PriceTierIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if (self.starts_at.tzinfo is None) != (self.ends_at.tzinfo is None):
            raise ValueError("give both times with an offset, or both without")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ShowtimeUpdate(BaseModel):
    """New times for a showtime. Times without an offset are read in the venue's time zone.

    Give `starts_at` alone to move the whole performance (it keeps its length), or both.
    """

    model_config = ConfigDict(json_schema_extra=at_least_one(starts_at="string", ends_at="string"))

    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @model_validator(mode="after")
    def _some_time(self) -> Self:
        if self.starts_at is None and self.ends_at is None:
            raise ValueError("give starts_at, ends_at or both")
        if (
            self.starts_at is not None
            and self.ends_at is not None
            and (self.starts_at.tzinfo is None) != (self.ends_at.tzinfo is None)
        ):
            raise ValueError("give both times with an offset, or both without")
        return self


class EventCreate(BaseModel):
    """An event, created as a draft.

    The quick form (seed 001): `venue` (a name), `city_id`, `starts_at`, `ends_at` and
    `total_seats` also create a venue with one section of that many seats and a showtime.
    """

    model_config = ConfigDict(populate_by_name=True)

    title: str = Field(min_length=1, max_length=200, validation_alias=AliasChoices("title", "name"))
    description: str = Field(default="", max_length=20_000)
    event_type: EventType = EventType.other
    images: list[str] = Field(default_factory=list, max_length=20)
    metadata: dict[str, Any] = Field(default_factory=dict)
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    presale_starts_at: datetime | None = Field(
        default=None,
        description="A presale opens: from then until `sale_starts_at` only buyers who give "
        "one of `presale_codes` may hold seats",
    )
    presale_codes: list[AccessCode] = Field(
        default_factory=list,
        max_length=100,
        description="The presale's access codes (never shown back; matched ignoring case)",
    )
    hold_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    max_tickets_per_booking: int = Field(default=10, ge=1, le=100)
    max_tickets_per_buyer: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="At most this many live tickets (held or booked) per buyer per showtime, "
        "across bookings; null: no limit",
    )
    allow_ticket_transfers: bool = Field(
        default=True,
        description="Ticket holders may pass a ticket on to another account until the "
        "showtime starts",
    )
    accessible_release_hours: int | None = Field(
        default=None, ge=0, le=24 * 365, description=ACCESSIBLE_RELEASE
    )
    refund_cutoff_hours: int = Field(
        default=24, ge=0, le=24 * 365, description="Buyers may cancel for a refund until then"
    )
    refund_fee_percent_bp: int = Field(
        default=0, ge=0, le=10_000, description="Refund fee in basis points of the refund"
    )
    refund_fee_fixed_minor: MinorUnits = Field(default=0, description="Fixed refund fee")
    fee_percent_bp: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Booking fee in basis points of an order's ticket subtotal after any "
        "coupon (250 = 2.5%); added to the price the buyer pays, rounded half up",
    )
    fee_per_ticket_minor: MinorUnits = Field(default=0, description="Booking fee per ticket")
    fee_per_order_minor: MinorUnits = Field(
        default=0, description="Booking fee per order; a free order carries no fee of any kind"
    )
    venue: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("venue", "venue_name"),
        description="Quick form: name of a venue to create",
    )
    city_id: uuid.UUID | None = Field(default=None, description="Quick form: the venue's city")
    starts_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("starts_at", "start_time")
    )
    ends_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("ends_at", "end_time")
    )
    total_seats: int | None = Field(default=None, ge=1, le=100_000)
    price_minor: MinorUnits = 0
    currency: Currency = "USD"

    @model_validator(mode="after")
    def _quick_form_complete(self) -> Self:
        quick = (self.venue, self.city_id, self.starts_at, self.ends_at, self.total_seats)
        if any(v is not None for v in quick) and any(v is None for v in quick):
            raise ValueError(
                "the quick form needs all of venue, city_id, starts_at, ends_at and total_seats"
            )
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.sale_starts_at and self.sale_ends_at and self.sale_ends_at <= self.sale_starts_at:
            raise ValueError("sale_ends_at must be after sale_starts_at")
        presale_problem(self.presale_starts_at, self.sale_starts_at, self.presale_codes)
        return self


def presale_problem(
    presale_starts_at: datetime | None, sale_starts_at: datetime | None, codes: list[str]
) -> None:
    """Refuse a presale that could not work: it needs a general sale to open later and at
    least one code."""
    if presale_starts_at is None:
        return
    if sale_starts_at is None or presale_starts_at >= sale_starts_at:
        raise ValueError("presale_starts_at needs a later sale_starts_at")
    if not codes:
        raise ValueError("a presale needs at least one of presale_codes")


class EventUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    title: str | None = Field(
        default=None, min_length=1, max_length=200, validation_alias=AliasChoices("title", "name")
    )
    description: str | None = Field(default=None, max_length=20_000)
    event_type: EventType | None = None
    images: list[str] | None = Field(default=None, max_length=20)
    metadata: dict[str, Any] | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    presale_starts_at: datetime | None = Field(default=None, description="Null ends the presale")
    presale_codes: list[AccessCode] | None = Field(
        default=None, max_length=100, description="Replaces the presale's codes"
    )
    hold_ttl_seconds: int | None = Field(default=None, ge=60, le=3600)
    max_tickets_per_booking: int | None = Field(default=None, ge=1, le=100)
    max_tickets_per_buyer: int | None = Field(
        default=None, ge=1, le=1000, description="Null lifts the limit"
    )
    allow_ticket_transfers: bool | None = None
    accessible_release_hours: int | None = Field(
        default=None, ge=0, le=24 * 365, description=ACCESSIBLE_RELEASE + " (null: never)"
    )
    refund_cutoff_hours: int | None = Field(default=None, ge=0, le=24 * 365)
    refund_fee_percent_bp: int | None = Field(default=None, ge=0, le=10_000)
    refund_fee_fixed_minor: MinorUnits | None = None
    fee_percent_bp: int | None = Field(
        default=None, ge=0, le=10_000, description="Applies to bookings made from now on"
    )
    fee_per_ticket_minor: MinorUnits | None = None
    fee_per_order_minor: MinorUnits | None = None


class Presale(BaseModel):
    """An event's presale, with its access codes: for those who manage the event."""

    presale_starts_at: datetime | None
    sale_starts_at: datetime | None
    presale_codes: list[str] = Field(description="Upper-cased; matched ignoring case")


class PriceTier(BaseModel):
    id: uuid.UUID
    section_id: uuid.UUID
    section_name: str
    name: str
    price_minor: int
    fee_minor: int = Field(
        description="Booking fees on one ticket at this price (the event's percent and "
        "per-ticket fees; its per-order fee, if any, comes once per order)"
    )
    price_with_fees_minor: int = Field(
        description="What one ticket costs with its fees: the price to show buyers"
    )
    currency: str
    units: int
    available: int


class Showtime(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    venue_id: uuid.UUID
    venue_name: str
    city_id: uuid.UUID
    city_name: str
    timezone: str = Field(description="The venue's IANA time zone")
    starts_at: datetime
    ends_at: datetime
    local_starts_at: str = Field(description="Start in the venue's time zone (ISO 8601)")
    status: ShowtimeStatus
    rescheduled_at: datetime | None = Field(
        description="When its times last changed; buyers who paid before then may cancel "
        "for a full refund until it starts"
    )
    units: int
    available: int
    price_tiers: list[PriceTier]


class EventSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: uuid.UUID
    title: str
    description: str
    event_type: EventType
    status: EventStatus
    organizer_id: uuid.UUID
    images: list[str]
    metadata: dict[str, Any] = Field(validation_alias="meta")
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    presale_starts_at: datetime | None = Field(
        default=None, description="A presale, open to buyers with its access code, from then"
    )
    created_at: datetime
    published_at: datetime | None = None
    next_starts_at: datetime | None = Field(default=None, description="Next upcoming showtime")
    showtime_count: int = Field(default=0, description="Upcoming scheduled showtimes")
    cities: list[str] = Field(default_factory=list)
    venues: list[str] = Field(default_factory=list)
    lowest_price: Money | None = None


class EventSearchHit(EventSummary):
    rank: float = Field(description="Relevance; higher is better")


class EventNearby(EventSummary):
    distance_km: float = Field(description="Distance to the nearest venue the event plays at")
    nearest_city: str
    nearest_venue: str


class Availability(BaseModel):
    units: int = Field(description="Places across upcoming showtimes")
    available: int


class Rating(BaseModel):
    average: float | None
    count: int


class EventDetail(EventSummary):
    hold_ttl_seconds: int
    max_tickets_per_booking: int
    max_tickets_per_buyer: int | None
    allow_ticket_transfers: bool
    accessible_release_hours: int | None = Field(description=ACCESSIBLE_RELEASE)
    refund_cutoff_hours: int
    refund_fee_percent_bp: int
    refund_fee_fixed_minor: int
    fee_percent_bp: int = Field(
        description="Booking fee in basis points of an order's ticket subtotal after any coupon"
    )
    fee_per_ticket_minor: int = Field(description="Booking fee per ticket")
    fee_per_order_minor: int = Field(description="Booking fee per order (none on a free order)")
    cancelled_at: datetime | None
    showtimes: list[Showtime]
    availability: Availability
    rating: Rating


class LocationIn(BaseModel):
    latitude: Latitude
    longitude: Longitude


class Location(LocationIn):
    model_config = ConfigDict(from_attributes=True)

    updated_at: datetime
