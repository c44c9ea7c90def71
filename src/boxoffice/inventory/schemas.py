import uuid
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from boxoffice.kit.ids import RowId
from boxoffice.kit.schema_rules import UNIQUE, one_way

MAX_UNITS = 5000
"""Units one block or unblock request may name (a whole section's worth)."""


class UnitSelection(BaseModel):
    """Exactly one of `seat_ids`, `unit_ids`, or a general-admission `section_id` with a
    `quantity` (blocking only)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=one_way(
            {"seat_ids": "array"},
            {"unit_ids": "array"},
            {"section_id": "string", "quantity": "integer"},
        ),
    )

    seat_ids: list[RowId] | None = Field(
        default=None, min_length=1, max_length=MAX_UNITS, json_schema_extra=UNIQUE
    )
    unit_ids: list[RowId] | None = Field(
        default=None, min_length=1, max_length=MAX_UNITS, json_schema_extra=UNIQUE
    )
    section_id: uuid.UUID | None = None
    quantity: int | None = Field(default=None, ge=1, le=MAX_UNITS)
    reason: str | None = Field(
        default=None, max_length=200, description="Why (house seats, broken seat, ...)"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        ways = [
            self.seat_ids is not None,
            self.unit_ids is not None,
            self.section_id is not None or self.quantity is not None,
        ]
        if sum(ways) != 1:
            raise ValueError("give exactly one of seat_ids, unit_ids, or section_id + quantity")
        if (self.section_id is None) != (self.quantity is None):
            raise ValueError("section_id and quantity go together")
        for ids in (self.seat_ids, self.unit_ids):
            if ids is not None and len(set(ids)) != len(ids):
                raise ValueError("seat and unit ids must not repeat")
        return self


class UnitsChanged(BaseModel):
    showtime_id: uuid.UUID
    state: str = Field(description="The state the units are in now: blocked or available")
    unit_ids: list[int] = Field(description="The units that changed, in id order")
    unchanged: list[int] = Field(
        default_factory=list,
        description="Unblocking: named seats or units that were not blocked (left as they are)",
    )
