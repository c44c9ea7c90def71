"""Coupons applied when bookings are created, over HTTP."""

import asyncio

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.booking.models import Booking
from boxoffice.config import Settings
from boxoffice.coupon.models import Coupon, CouponKind, CouponRedemption
from tests.booking.factories import create_world, unit_states
from tests.coupon.factories import create_coupon
from tests.factories import bearer, create_user


class TestCouponOnBooking:
    async def test_the_discount_is_priced_into_the_booking_and_released_on_cancel(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await create_world(session, price_minor=2500)
        coupon = await create_coupon(
            session, created_by=world.organizer, kind=CouponKind.percent, value=20
        )
        buyer = await create_user(session)

        created = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 2, "coupon_code": coupon.code},
            headers=bearer(settings, buyer),
        )
        body = created.json()
        cancelled = await client.post(
            f"/api/bookings/{body['id']}/cancel", headers=bearer(settings, buyer)
        )

        assert created.status_code == 201, created.text
        assert body["total_minor"] == 4000
        assert body["pricing"]["subtotal_minor"] == 5000
        assert body["pricing"]["discount_minor"] == 1000
        assert [t["price_minor"] for t in body["tickets"]] == [2000, 2000]
        assert cancelled.status_code == 200
        await session.refresh(coupon)
        assert coupon.redeemed_count == 0

    async def test_an_unknown_coupon_refuses_the_booking(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)

        response = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 1, "coupon_code": "NOPE"},
            headers=bearer(settings, buyer),
        )

        assert 400 <= response.status_code < 500
        assert response.json()["code"].startswith("coupon_")


class TestCouponLimitUnderConcurrency:
    async def test_fifty_buyers_use_a_coupon_limited_to_ten_exactly_ten_times(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, rows=10, seats_per_row=10, price_minor=2500)
            coupon = await create_coupon(
                session, created_by=world.organizer, max_redemptions=10, kind=CouponKind.percent
            )
            buyers = [await create_user(session) for _ in range(50)]
            await session.commit()

        responses = await asyncio.gather(
            *(
                committing_client.post(
                    "/api/bookings",
                    json={
                        "showtime_id": str(world.showtime.id),
                        "quantity": 1,
                        "coupon_code": coupon.code,
                    },
                    headers=bearer(settings, buyer),
                )
                for buyer in buyers
            )
        )

        codes = [r.status_code for r in responses]
        assert codes.count(201) == 10
        refused = [r.json()["code"] for r in responses if r.status_code != 201]
        # Buyers racing for the same seats may also be told to retry; none got a 5xx.
        assert "coupon_exhausted" in refused
        assert set(refused) <= {"coupon_exhausted", "serialization_conflict", "sold_out"}
        async with committed() as session:
            used = await session.scalar(
                select(func.count())
                .select_from(CouponRedemption)
                .where(CouponRedemption.coupon_id == coupon.id)
            )
            stored = await session.get(Coupon, coupon.id)
            bookings = await session.scalar(select(func.count()).select_from(Booking))
            assert used == 10
            assert stored is not None
            assert stored.redeemed_count == 10
            assert bookings == 10
            assert (await unit_states(session, world.showtime)).get("held") == 10
