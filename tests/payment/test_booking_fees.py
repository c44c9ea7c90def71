"""Booking fees set per event: priced into bookings, paid, refunded, shown before buying."""

import csv
import io
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.catalog.models import EventFeeChange
from boxoffice.config import Settings
from boxoffice.coupon.models import CouponKind
from boxoffice.payment.providers.sandbox import SandboxProvider
from tests.booking.factories import World, committed_world, create_world
from tests.coupon.factories import create_coupon
from tests.factories import bearer, configure, create_user
from tests.payment.factories import book_over_http as _book
from tests.payment.factories import initiate_over_http as _initiate
from tests.payment.factories import pay_over_http as _pay

SUCCESS_CARD = "4242424242424242"
FEES = {"fee_percent_bp": 1000, "fee_per_ticket_minor": 100, "fee_per_order_minor": 50}
"""10% of the tickets' price, 1.00 a ticket and 0.50 an order."""


async def _with_fees(
    client: AsyncClient, settings: Settings, world: World, **fees: int
) -> dict[str, Any]:
    """Set the event's fees through the API, as its organizer would."""
    updated = await client.put(
        f"/api/events/{world.event.id}",
        json=fees or FEES,
        headers=bearer(settings, world.organizer),
    )
    assert updated.status_code == 200, updated.text
    detail: dict[str, Any] = (
        await client.get(f"/api/events/{world.event.id}", headers=bearer(settings, world.organizer))
    ).json()
    return detail


class TestBookingFees:
    async def test_the_events_fees_are_added_to_what_the_buyer_pays(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        detail = await _with_fees(client, settings, world)
        buyer = await create_user(session)

        booking = await _book(client, settings, buyer, world, quantity=3)
        started = await _initiate(client, settings, buyer, booking["id"])  # 201 for sure

        # Shown before buying: the event says what it adds, each price tier its all-in price.
        assert {k: detail[k] for k in FEES} == FEES
        [tier] = detail["showtimes"][0]["price_tiers"]
        assert (tier["price_minor"], tier["fee_minor"]) == (2500, 350)
        assert tier["price_with_fees_minor"] == 2850
        # 3 x 25.00 = 75.00; fees 7.50 + 3 x 1.00 + 0.50 = 11.00.
        pricing = booking["pricing"]
        assert (pricing["subtotal_minor"], pricing["fees_minor"]) == (7500, 1100)
        assert booking["total_minor"] == 8600
        assert [t["price_minor"] for t in booking["tickets"]] == [2867, 2867, 2866]
        assert sum(t["fee_minor"] for t in pricing["tickets"]) == 1100
        assert started["payment"]["amount_minor"] == 8600

        # Paid, the booking counts in the organizer's figures, its fees shown apart.
        paid = await _pay(client, settings, buyer, started["payment"]["id"], SUCCESS_CARD)
        assert paid.json()["status"] == "succeeded"
        figures = await client.get(
            "/api/admin/analytics",
            params={"event_id": str(world.event.id)},
            headers=bearer(settings, world.organizer),
        )
        assert figures.status_code == 200, figures.text
        totals = figures.json()["totals"]
        assert totals["revenue"] == [{"currency": "USD", "amount_minor": 8600}]
        assert totals["booking_fees"] == [{"currency": "USD", "amount_minor": 1100}]
        exported = await client.get(
            "/api/bookings/export.csv",
            params={"showtime_id": str(world.showtime.id)},
            headers=bearer(settings, world.organizer),
        )
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert {(r["booking_total_minor"], r["booking_fees_minor"]) for r in rows} == {
            ("8600", "1100")
        }
        assert sorted(int(r["ticket_price_minor"]) for r in rows) == [2866, 2867, 2867]

    async def test_a_coupon_takes_off_the_tickets_price_and_the_percent_fee_follows(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await create_world(session, price_minor=2500)
        await _with_fees(client, settings, world)
        coupon = await create_coupon(
            session, created_by=world.organizer, kind=CouponKind.percent, value=20
        )
        buyer = await create_user(session)

        booking = await _book(client, settings, buyer, world, quantity=3, coupon_code=coupon.code)

        # 75.00 less 20% = 60.00; fees 6.00 + 3.00 + 0.50; the coupon never touches them.
        pricing = booking["pricing"]
        assert (pricing["discount_minor"], pricing["fees_minor"]) == (1500, 950)
        assert booking["total_minor"] == 6950
        assert sum(t["price_minor"] for t in booking["tickets"]) == 6950

    async def test_a_free_order_carries_no_fee_and_confirms_itself(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await create_world(session, price_minor=0)
        await _with_fees(client, settings, world)
        buyer = await create_user(session)

        booking = await _book(client, settings, buyer, world, quantity=2)

        assert (booking["status"], booking["total_minor"]) == ("confirmed", 0)
        assert booking["pricing"]["fees_minor"] == 0

    async def test_seats_added_to_a_booking_bring_their_fees_but_no_second_order_fee(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await create_world(session, price_minor=2500)
        await _with_fees(client, settings, world)
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world, quantity=1)
        assert booking["total_minor"] == 2500 + 250 + 100 + 50
        taken = {t["seat_id"] for t in booking["tickets"]}
        free_seat = next(s.id for s in world.seats if s.id not in taken)

        added = await client.post(
            f"/api/bookings/{booking['id']}/seats",
            json={"seat_ids": [free_seat]},
            headers=bearer(settings, buyer),
        )

        assert added.status_code == 200, added.text
        body = added.json()
        assert body["total_minor"] == 2900 + 2500 + 250 + 100
        assert sum(t["price_minor"] for t in body["tickets"]) == body["total_minor"]
        pricing = body["pricing"]
        assert (pricing["subtotal_minor"], pricing["fees_minor"]) == (5000, 750)
        assert pricing["total_minor"] == body["total_minor"]
        assert len(pricing["tickets"]) == 2

    async def test_a_refund_gives_the_fees_back_less_the_refund_policys_own_fee(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        await _with_fees(client, settings, world, fee_per_ticket_minor=200)
        world.event.refund_fee_fixed_minor = 300
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world, quantity=2)
        started = (await _initiate(client, settings, buyer, booking["id"]))["payment"]
        paid = await _pay(client, settings, buyer, started["id"], SUCCESS_CARD)
        assert paid.json()["status"] == "succeeded"

        cancelled = await client.post(
            f"/api/bookings/{booking['id']}/cancel", headers=bearer(settings, buyer)
        )
        payment = await client.get(
            f"/api/payments/{started['id']}", headers=bearer(settings, buyer)
        )

        assert cancelled.json()["status"] == "refunded"
        assert booking["total_minor"] == 5400
        assert payment.json()["refunded_minor"] == 5400 - 300

    async def test_fees_out_of_range_are_refused(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await create_world(session, price_minor=2500)
        for bad in (
            {"fee_percent_bp": 10_001},
            {"fee_percent_bp": -1},
            {"fee_per_ticket_minor": -1},
            {"fee_per_order_minor": 10**13},
        ):
            refused = await client.put(
                f"/api/events/{world.event.id}",
                json=bad,
                headers=bearer(settings, world.organizer),
            )
            assert (refused.status_code, refused.json()["code"]) == (422, "validation_error")
        created = await client.post(
            "/api/events",
            json={"title": "Fees", "event_type": "music", **FEES},
            headers=bearer(settings, world.organizer),
        )
        assert created.status_code == 201, created.text
        assert {k: created.json()[k] for k in FEES} == FEES


class TestFeesChangedWhileHeld:
    """Real commits: each request's transaction has its own clock, as in production."""

    async def _held(
        self, client: AsyncClient, settings: Settings, world: World, buyer: User
    ) -> str:
        held = await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "quantity": 2},
            headers=bearer(settings, buyer),
        )
        assert held.status_code == 201, held.text
        hold_id: str = held.json()["id"]
        return hold_id

    async def _booked(
        self, client: AsyncClient, settings: Settings, buyer: User, hold_id: str
    ) -> dict[str, Any]:
        booked = await client.post(
            "/api/bookings/create", json={"hold_id": hold_id}, headers=bearer(settings, buyer)
        )
        assert booked.status_code == 201, booked.text
        booking: dict[str, Any] = booked.json()
        return booking

    async def test_a_hold_placed_before_fees_rise_pays_the_fees_of_its_time(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        world, (early, late), _ = await committed_world(committed, 2, price_minor=2500)
        client = committing_client
        before = await self._held(client, settings, world, early)
        await _with_fees(client, settings, world)
        after = await self._held(client, settings, world, late)

        kept = await self._booked(client, settings, early, before)
        raised = await self._booked(client, settings, late, after)

        assert (kept["total_minor"], kept["pricing"]["fees_minor"]) == (5000, 0)
        # 50.00 + 5.00 + 2 x 1.00 + 0.50
        assert (raised["total_minor"], raised["pricing"]["fees_minor"]) == (5750, 750)
        async with committed() as session:
            [change] = (await session.scalars(select(EventFeeChange))).all()
            assert change.event_id == world.event.id
            assert change.changed_by == world.organizer.id
            assert change.previous_fee_percent_bp == 0

    async def test_a_hold_placed_before_fees_fall_pays_the_new_lower_ones(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        world, (buyer,), _ = await committed_world(committed, 1, price_minor=2500)
        client = committing_client
        await _with_fees(client, settings, world)
        hold_id = await self._held(client, settings, world, buyer)
        await _with_fees(client, settings, world, fee_percent_bp=0, fee_per_order_minor=0)

        booking = await self._booked(client, settings, buyer, hold_id)

        # Only the per-ticket fee is left: 2 x 1.00.
        assert (booking["total_minor"], booking["pricing"]["fees_minor"]) == (5200, 200)

    async def test_with_a_coupon_the_cheaper_fees_are_judged_after_the_discount(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        world, (buyer,), _ = await committed_world(committed, 1, price_minor=2500)
        async with committed() as session:
            coupon = await create_coupon(
                session, created_by=world.organizer, kind=CouponKind.percent, value=50
            )
            await session.commit()
        client = committing_client
        await _with_fees(client, settings, world, fee_percent_bp=1000)
        hold_id = await self._held(client, settings, world, buyer)
        # 2.00 a ticket instead of 10%: less on 50.00 (4.00 against 5.00), more on the
        # 25.00 left after the coupon (4.00 against 2.50).
        await _with_fees(client, settings, world, fee_percent_bp=0, fee_per_ticket_minor=200)

        booked = await client.post(
            "/api/bookings/create",
            json={"hold_id": hold_id, "coupon_code": coupon.code},
            headers=bearer(settings, buyer),
        )

        assert booked.status_code == 201, booked.text
        pricing = booked.json()["pricing"]
        assert (pricing["discount_minor"], pricing["fees_minor"]) == (2500, 250)
        assert booked.json()["total_minor"] == 2750


class TestSeatMapPrices:
    async def test_the_seat_map_shows_all_in_prices_and_follows_a_fee_change(
        self, app: FastAPI, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        configure(app, settings, "booking", seat_map_refresh_ms=0)
        world = await create_world(session, price_minor=2500)
        buyer = bearer(settings, await create_user(session))
        path = f"/api/showtimes/{world.showtime.id}/seats"
        before = await client.get(path, headers=buyer)
        [section] = before.json()["sections"]
        assert section["price_tier"]["fee_minor"] == 0
        assert section["price_tier"]["price_with_fees_minor"] == 2500

        await _with_fees(client, settings, world)
        after = await client.get(path, headers={**buyer, "If-None-Match": before.headers["etag"]})

        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        [section] = after.json()["sections"]
        assert (section["price_tier"]["price_minor"], section["price_tier"]["fee_minor"]) == (
            2500,
            350,
        )
        assert section["price_tier"]["price_with_fees_minor"] == 2850
