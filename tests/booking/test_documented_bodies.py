"""The OpenAPI document's request bodies for holds and bookings refuse exactly what the API
refuses: its cross-field rules (exactly one showtime or event; exactly one of seat ids,
unit ids or a quantity; `accessible` with a quantity; a hold id alone) are in the document,
not only in the validators, so a client or a generator reading it sends valid bodies."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from tests.conftest import Documented
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]

S, E, H = (str(uuid.uuid4()) for _ in range(3))

HOLDS: list[tuple[dict[str, Any], bool]] = [
    ({"showtime_id": S, "seat_ids": [1, 2]}, True),
    ({"event_id": E, "quantity": 2}, True),
    ({"showtime_id": S, "event_id": None, "unit_ids": [5], "quantity": None}, True),
    ({"showtime_id": S, "quantity": 2, "accessible": True}, True),
    ({"showtime_id": S, "seat_ids": [1], "accessible": False}, True),
    ({"showtime_id": S, "event_id": E, "quantity": 1}, False),
    ({"quantity": 1}, False),
    ({"showtime_id": None, "event_id": None, "quantity": 1}, False),
    ({"showtime_id": S}, False),
    ({"showtime_id": S, "seat_ids": [1], "quantity": 2}, False),
    ({"showtime_id": S, "seat_ids": [1], "unit_ids": [2]}, False),
    ({"showtime_id": S, "seat_ids": [3, 3]}, False),
    ({"showtime_id": S, "seat_ids": [1], "accessible": True}, False),
    ({"showtime_id": S, "quantity": 0}, False),
    ({"showtime_id": S, "quantity": 1, "note": "x"}, False),
]

BOOKINGS: list[tuple[dict[str, Any], bool]] = [
    ({"hold_id": H}, True),
    ({"hold_id": H, "coupon_code": "SPRING"}, True),
    ({"showtime_id": S}, True),
    ({"event_id": E, "quantity": 3}, True),
    ({"hold_id": None, "showtime_id": S, "quantity": 2}, True),
    ({"hold_id": H, "quantity": 2}, False),
    ({"hold_id": H, "showtime_id": S}, False),
    ({"showtime_id": S, "event_id": E}, False),
    ({}, False),
    ({"quantity": 2}, False),
]


CASES = [("HoldCreate", "/api/bookings/hold-seats", body, valid) for body, valid in HOLDS] + [
    ("BookingCreate", "/api/bookings", body, valid) for body, valid in BOOKINGS
]


@pytest.mark.parametrize(
    ("component", "path", "body", "valid"),
    CASES,
    ids=[f"{component}-{i}" for i, (component, _, _, _) in enumerate(CASES)],
)
async def test_the_document_and_the_api_agree(
    client: AsyncClient,
    session: AsyncSession,
    auth_headers: Headers,
    documented: Documented,
    component: str,
    path: str,
    body: dict[str, Any],
    valid: bool,
) -> None:
    buyer = await create_user(session)
    response = await client.post(path, json=body, headers=auth_headers(buyer))

    assert response.status_code < 500
    assert documented(component, body) is valid
    assert (response.json().get("code") != "validation_error") is valid
