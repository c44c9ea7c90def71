"""Values at the edges of what the columns hold: large but valid amounts work end to end;
numbers past what a column could hold are refused as invalid input (422), never a 500; an
error's own members never replace the problem's standard ones."""

from collections.abc import Callable
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import PriceTier
from boxoffice.payment.models import Payment
from boxoffice.payment.providers.sandbox import SandboxProvider
from tests.booking.factories import committed_world, create_world
from tests.factories import create_user
from tests.payment.conftest import sandbox  # noqa: F401 (fixture)

Headers = Callable[[User], dict[str, str]]

# Past 2^31 - 1, where the INTEGER money columns overflowed (a 500 before migration 0022).
PRICE = 5_000_000_000


async def test_a_price_past_two_to_the_31_is_sold_paid_and_refunded(
    client: AsyncClient,
    session: AsyncSession,
    auth_headers: Headers,
    sandbox: SandboxProvider,  # noqa: F811 (the fixture imported above)
) -> None:
    world = await create_world(session, price_minor=100)
    buyer = await create_user(session)
    organizer = auth_headers(world.organizer)
    tier = await session.scalar(
        select(PriceTier.id).where(PriceTier.showtime_id == world.showtime.id)
    )
    raised = await client.put(
        f"/api/showtimes/{world.showtime.id}/price-tiers/{tier}",
        json={"price_minor": PRICE},
        headers=organizer,
    )
    assert raised.status_code == 200, raised.json()
    fee = await client.put(
        f"/api/events/{world.event.id}",
        json={"refund_fee_fixed_minor": 3_000_000_000},
        headers=organizer,
    )
    assert fee.status_code == 200, fee.json()

    booking = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": 2},
        headers=auth_headers(buyer),
    )
    assert booking.status_code == 201, booking.json()
    assert booking.json()["total_minor"] == 2 * PRICE
    started = await client.post(
        "/api/payments/initiate",
        json={"booking_id": booking.json()["id"]},
        headers=auth_headers(buyer),
    )
    assert started.status_code == 201, started.json()
    paid = await client.post(
        "/api/payments/confirm",
        json={"payment_id": started.json()["payment"]["id"], "card_number": "4242424242424242"},
        headers=auth_headers(buyer),
    )
    assert paid.status_code == 200, paid.json()
    stored = await session.scalar(select(Payment.amount_minor))
    assert stored == 2 * PRICE

    admin = await create_user(session, role=Role.admin)
    refunded = await client.post(
        f"/api/bookings/{booking.json()['id']}/refund", json={}, headers=auth_headers(admin)
    )
    assert refunded.status_code == 200, refunded.json()
    assert refunded.json()["status"] == "refunded"


async def test_numbers_past_what_a_column_holds_are_invalid_input(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers
) -> None:
    world = await create_world(session)
    buyer = await create_user(session)
    admin = auth_headers(await create_user(session, role=Role.admin))
    too_big = 2**64
    asks: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        (
            "POST",
            "/api/bookings/hold-seats",
            auth_headers(buyer),
            {"showtime_id": str(world.showtime.id), "seat_ids": [too_big]},
        ),
        (
            "POST",
            f"/api/showtimes/{world.showtime.id}/seats/block",
            auth_headers(world.organizer),
            {"unit_ids": [too_big]},
        ),
        (
            "PUT",
            f"/api/events/{world.event.id}",
            auth_headers(world.organizer),
            {"refund_fee_fixed_minor": 10**13},
        ),
        (
            "POST",
            "/api/coupons",
            admin,
            {"code": "BIG", "kind": "percent", "value": 10, "max_redemptions": 2**31},
        ),
    ]
    booking = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": 1},
        headers=auth_headers(buyer),
    )
    cancel = f"/api/bookings/{booking.json()['id']}/cancel"
    asks.append(("POST", cancel, auth_headers(buyer), {"version": too_big}))
    for method, path, headers, body in asks:
        answer = await client.request(method, path, json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), path
    # The same version as If-Match: no booking ever has it.
    precondition = await client.post(
        cancel, headers={**auth_headers(buyer), "If-Match": f'"{too_big}"'}
    )
    assert (precondition.status_code, precondition.json()["code"]) == (412, "precondition_failed")
    still = await client.get(f"/api/bookings/{booking.json()['id']}", headers=auth_headers(buyer))
    assert still.json()["status"] == "pending_payment"


async def test_a_problem_keeps_its_own_status_whatever_the_error_adds(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers
) -> None:
    world = await create_world(session, price_minor=0)
    buyer = await create_user(session)
    booking = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": 1},
        headers=auth_headers(buyer),
    )
    path = f"/api/bookings/{booking.json()['id']}/cancel"
    assert (await client.post(path, headers=auth_headers(buyer))).status_code == 200

    again = await client.post(path, headers=auth_headers(buyer))

    assert again.status_code == 409
    assert again.json()["status"] == 409
    assert again.json()["booking_status"] == "cancelled"


async def test_text_the_database_cannot_store_is_bad_input_and_changes_nothing(
    committing_client: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    auth_headers: Headers,
) -> None:
    # Real transactions: each refused request's own is rolled back, and the next goes on.
    world, _, _ = await committed_world(committed, 0)
    client = committing_client
    organizer = auth_headers(world.organizer)
    before = (await client.get(f"/api/events/{world.event.id}")).json()

    nul_in_text = await client.post(
        "/api/auth/login", json={"email": "\u0000", "password": "whatever-it-is"}
    )
    nul_in_json = await client.put(
        f"/api/events/{world.event.id}",
        json={"title": "Renamed", "metadata": {"note": "a\u0000b"}},
        headers=organizer,
    )
    nul_in_title = await client.put(
        f"/api/events/{world.event.id}", json={"title": "Re\u0000named"}, headers=organizer
    )

    for answer in (nul_in_text, nul_in_json, nul_in_title):
        assert (answer.status_code, answer.json()["code"]) == (400, "bad_request"), answer.text
    after = (await client.get(f"/api/events/{world.event.id}")).json()
    assert (after["title"], after["metadata"]) == (before["title"], before["metadata"])
