import uuid
from datetime import datetime
from typing import Annotated, Self
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from boxoffice.kit.schema_rules import all_or_none, both, given, one_way, unset, when
from boxoffice.venue.models import SectionKind

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


def _known_timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


Timezone = Annotated[
    str,
    Field(
        max_length=64,
        description="An IANA time zone name, such as `Europe/London`",
        examples=["Europe/London"],
    ),
    AfterValidator(_known_timezone),
]
RowLabel = Annotated[str, Field(min_length=1, max_length=8, pattern=r"^[A-Za-z0-9]+$")]


class CityCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    latitude: Latitude
    longitude: Longitude
    timezone: Timezone


class City(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    country: str
    latitude: float
    longitude: float
    timezone: str


class SeatIn(BaseModel):
    row_label: RowLabel
    number: int = Field(ge=1, le=10_000)
    x: float = 0.0
    y: float = 0.0
    accessible: bool = False


class SeatGap(BaseModel):
    row_label: RowLabel
    number: int = Field(ge=1, le=500)


class LayoutSpec(BaseModel):
    """A compact seat map: `rows` x `seats_per_row`, with labels, aisles and gaps."""

    rows: int = Field(ge=1, le=200)
    seats_per_row: int = Field(ge=1, le=500)
    row_labels: list[RowLabel] | None = Field(
        default=None, description="One label per row, nearest the stage first; default A, B, .."
    )
    aisles_after: list[Annotated[int, Field(ge=1, le=500)]] = Field(
        default_factory=list, description="Seat numbers"
    )
    gaps: list[SeatGap] = Field(default_factory=list, description="Seats that do not exist")
    accessible_rows: list[RowLabel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _labels_fit(self) -> Self:
        if self.row_labels is not None:
            if len(self.row_labels) != self.rows:
                raise ValueError("row_labels must name every row")
            if len(set(self.row_labels)) != self.rows:
                raise ValueError("row_labels must be distinct")
        return self


class SectionCreate(BaseModel):
    """A reserved section gives `layout` or `seats`; a general-admission one `capacity`."""

    model_config = ConfigDict(
        json_schema_extra=when(
            "kind",
            SectionKind.general_admission.value,
            both(given(capacity="integer"), unset("layout", "seats")),
            otherwise={
                "allOf": [unset("capacity"), one_way({"layout": "object"}, {"seats": "array"})]
            },
        )
    )

    name: str = Field(min_length=1, max_length=120)
    kind: SectionKind
    sort_order: int = Field(default=0, ge=0, le=1000)
    capacity: int | None = Field(default=None, ge=1, le=200_000)
    layout: LayoutSpec | None = None
    seats: list[SeatIn] | None = Field(
        default=None, max_length=100_000, json_schema_extra={"minItems": 1}
    )

    @model_validator(mode="after")
    def _shape_matches_kind(self) -> Self:
        if self.kind is SectionKind.general_admission:
            if self.capacity is None or self.layout is not None or self.seats is not None:
                raise ValueError("a general-admission section takes capacity only")
        else:
            if (self.layout is None) == (self.seats is None):
                raise ValueError("a reserved section takes exactly one of layout or seats")
            if self.capacity is not None:
                raise ValueError("a reserved section's capacity is its seat count")
            if self.seats is not None:
                if not self.seats:
                    raise ValueError("seats must not be empty")
                keys = {(s.row_label, s.number) for s in self.seats}
                if len(keys) != len(self.seats):
                    raise ValueError("each (row_label, number) must appear once")
        return self


class VenueCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra=all_or_none(latitude="number", longitude="number"))

    name: str = Field(min_length=1, max_length=200)
    city_id: uuid.UUID
    address: str = Field(default="", max_length=500)
    latitude: Latitude | None = Field(default=None, description="Default: the city's")
    longitude: Longitude | None = Field(default=None, description="Default: the city's")
    timezone: Timezone | None = Field(default=None, description="Default: the city's")
    description: str = Field(default="", max_length=5000)
    sections: list[SectionCreate] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _point_complete(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if len({s.name for s in self.sections}) != len(self.sections):
            raise ValueError("section names must be distinct")
        return self


class VenueUpdate(BaseModel):
    """Fields to change; `sections`, when given, replaces the whole layout."""

    model_config = ConfigDict(json_schema_extra=all_or_none(latitude="number", longitude="number"))

    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    timezone: Timezone | None = None
    description: str | None = Field(default=None, max_length=5000)
    sections: list[SectionCreate] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _point_complete(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if self.sections is not None and len({s.name for s in self.sections}) != len(self.sections):
            raise ValueError("section names must be distinct")
        return self


class Seat(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    row_label: str
    row_index: int
    number: int
    x: float
    y: float
    accessible: bool


class Section(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: SectionKind
    capacity: int
    sort_order: int
    seats: list[Seat] | None = Field(
        default=None, description="Reserved sections, when asked for with include_seats=true"
    )


class VenueSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    city_id: uuid.UUID
    city_name: str
    organizer_id: uuid.UUID | None
    address: str
    latitude: float
    longitude: float
    timezone: str
    capacity: int
    created_at: datetime


class Venue(VenueSummary):
    description: str
    sections: list[Section]
