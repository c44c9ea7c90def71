"""Request bodies whose rules span fields (exactly one of, at least one of, one field's value
deciding another's) state them in the OpenAPI document as well as in their validators
(`kit/schema_rules.py`): for each body below, the document and the model give the same
verdict, and the one expected. The hold and booking bodies are checked through HTTP in
`tests/booking/test_documented_bodies.py`."""

import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from boxoffice.booking.schemas import CheckInCreate
from boxoffice.catalog.schemas import PriceTierUpdate, ShowtimeUpdate
from boxoffice.coupon.schemas import CouponCreate
from boxoffice.inventory.schemas import UnitSelection
from boxoffice.venue.schemas import SectionCreate, VenueCreate, VenueUpdate
from boxoffice.waitlist.schemas import EntryCreate
from tests.conftest import Documented

A, B = str(uuid.uuid4()), str(uuid.uuid4())
WHEN = "2027-01-01T20:00:00Z"
LAYOUT = {"rows": 2, "seats_per_row": 10}
SEATS = [{"row_label": "A", "number": 1}, {"row_label": "A", "number": 2}]

CASES: list[tuple[type[BaseModel], dict[str, Any], bool]] = [
    (EntryCreate, {"showtime_id": A}, True),
    (EntryCreate, {"event_id": A, "quantity": 2}, True),
    (EntryCreate, {"showtime_id": None, "event_id": A}, True),
    (EntryCreate, {"showtime_id": A, "event_id": B}, False),
    (EntryCreate, {"quantity": 2}, False),
    (CheckInCreate, {"code": "BX1-abc"}, True),
    (CheckInCreate, {"ticket_id": A}, True),
    (CheckInCreate, {"code": "BX1-abc", "ticket_id": A}, False),
    (CheckInCreate, {}, False),
    (UnitSelection, {"seat_ids": [1, 2]}, True),
    (UnitSelection, {"unit_ids": [7], "reason": "house seats"}, True),
    (UnitSelection, {"section_id": A, "quantity": 3}, True),
    (UnitSelection, {"section_id": A}, False),
    (UnitSelection, {"quantity": 3}, False),
    (UnitSelection, {"seat_ids": [1], "quantity": 2}, False),
    (UnitSelection, {"seat_ids": [1], "unit_ids": [2]}, False),
    (UnitSelection, {"seat_ids": [4, 4]}, False),
    (UnitSelection, {}, False),
    (PriceTierUpdate, {"name": "Stalls"}, True),
    (PriceTierUpdate, {"price_minor": 4500}, True),
    (PriceTierUpdate, {"name": "Stalls", "price_minor": 4500}, True),
    (PriceTierUpdate, {"name": None}, False),
    (PriceTierUpdate, {}, False),
    (ShowtimeUpdate, {"starts_at": WHEN}, True),
    (ShowtimeUpdate, {"ends_at": WHEN}, True),
    (ShowtimeUpdate, {}, False),
    (SectionCreate, {"name": "Floor", "kind": "general_admission", "capacity": 300}, True),
    (SectionCreate, {"name": "Floor", "kind": "general_admission"}, False),
    (
        SectionCreate,
        {"name": "Floor", "kind": "general_admission", "capacity": 9, "layout": LAYOUT},
        False,
    ),
    (SectionCreate, {"name": "Stalls", "kind": "reserved", "layout": LAYOUT}, True),
    (SectionCreate, {"name": "Box", "kind": "reserved", "seats": SEATS}, True),
    (SectionCreate, {"name": "Box", "kind": "reserved", "seats": []}, False),
    (SectionCreate, {"name": "Box", "kind": "reserved"}, False),
    (
        SectionCreate,
        {"name": "Box", "kind": "reserved", "layout": LAYOUT, "seats": SEATS},
        False,
    ),
    (SectionCreate, {"name": "Box", "kind": "reserved", "layout": LAYOUT, "capacity": 20}, False),
    (VenueCreate, {"name": "Hall", "city_id": A}, True),
    (VenueCreate, {"name": "Hall", "city_id": A, "latitude": 51.5, "longitude": -0.1}, True),
    (VenueCreate, {"name": "Hall", "city_id": A, "latitude": 51.5}, False),
    (VenueUpdate, {"longitude": -0.1}, False),
    (VenueUpdate, {"latitude": None, "longitude": None, "name": "New"}, True),
    (CouponCreate, {"code": "SPRING", "kind": "percent", "value": 10}, True),
    (CouponCreate, {"code": "SPRING", "kind": "percent", "value": 101}, False),
    (CouponCreate, {"code": "SPRING", "kind": "percent", "value": 10, "currency": "EUR"}, False),
    (CouponCreate, {"code": "TENOFF", "kind": "fixed", "value": 1000, "currency": "EUR"}, True),
    (CouponCreate, {"code": "TENOFF", "kind": "fixed", "value": 1000}, False),
]


def _model_accepts(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("model", "body", "valid"),
    CASES,
    ids=[f"{model.__name__}-{i}" for i, (model, _, _) in enumerate(CASES)],
)
def test_the_document_and_the_model_agree(
    documented: Documented, model: type[BaseModel], body: dict[str, Any], valid: bool
) -> None:
    assert _model_accepts(model, body) is valid
    assert documented(model.__name__, body) is valid
