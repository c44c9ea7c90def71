import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role
from boxoffice.coupon import service
from boxoffice.coupon.errors import (
    CouponExhausted,
    CouponNotApplicable,
    CouponPerUserLimit,
)
from boxoffice.coupon.models import Coupon, CouponKind, CouponRedemption
from tests.coupon.factories import create_coupon
from tests.factories import create_event, create_user
from tests.payment.factories import booking_rows


class TestRedeem:
    async def test_redeeming_records_the_use_and_the_discount(self, session: AsyncSession) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        coupon = await create_coupon(
            session,
            created_by=organizer,
            organizer_id=organizer.id,
            kind=CouponKind.fixed,
            value=1500,
            currency="USD",
        )
        booking_id = (await booking_rows(session, 1))[0]

        discount = await service.redeem(
            session, coupon.code.lower(), buyer.id, event.id, organizer.id, 1000, "usd", booking_id
        )

        assert (discount.amount_minor, discount.currency) == (1000, "USD")
        await session.refresh(coupon)
        assert coupon.redeemed_count == 1
        redemption = await session.scalar(
            select(CouponRedemption).where(CouponRedemption.booking_id == booking_id)
        )
        assert redemption is not None
        assert (redemption.user_id, redemption.amount_minor) == (buyer.id, 1000)

    async def test_the_per_user_limit_counts_active_uses(self, session: AsyncSession) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        coupon = await create_coupon(session, created_by=organizer, max_per_user=1)
        first_booking = (await booking_rows(session, 1))[0]
        await service.redeem(
            session, coupon.code, buyer.id, event.id, organizer.id, 5000, "USD", first_booking
        )

        with pytest.raises(CouponPerUserLimit):
            await service.redeem(
                session,
                coupon.code,
                buyer.id,
                event.id,
                organizer.id,
                5000,
                "USD",
                (await booking_rows(session, 1))[0],
            )
        await service.release(session, first_booking)
        again = await service.redeem(
            session,
            coupon.code,
            buyer.id,
            event.id,
            organizer.id,
            5000,
            "USD",
            (await booking_rows(session, 1))[0],
        )
        assert again.amount_minor == 500

    async def test_another_organizers_event_does_not_qualify(self, session: AsyncSession) -> None:
        organizer = await create_user(session, role=Role.organizer)
        rival = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=rival)
        coupon = await create_coupon(session, created_by=organizer, organizer_id=organizer.id)

        with pytest.raises(CouponNotApplicable):
            await service.redeem(
                session,
                coupon.code,
                buyer.id,
                event.id,
                rival.id,
                5000,
                "USD",
                (await booking_rows(session, 1))[0],
            )


class TestRelease:
    async def test_releasing_gives_the_use_back_once(self, session: AsyncSession) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        coupon = await create_coupon(session, created_by=organizer, max_redemptions=1)
        booking_id = (await booking_rows(session, 1))[0]
        await service.redeem(
            session, coupon.code, buyer.id, event.id, organizer.id, 5000, "USD", booking_id
        )

        assert await service.release(session, booking_id) is True
        assert await service.release(session, booking_id) is False
        await session.refresh(coupon)
        assert coupon.redeemed_count == 0

    async def test_a_released_coupon_can_be_used_again(self, session: AsyncSession) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        coupon = await create_coupon(session, created_by=organizer, max_redemptions=1)
        booking_id = (await booking_rows(session, 1))[0]
        await service.redeem(
            session, coupon.code, buyer.id, event.id, organizer.id, 5000, "USD", booking_id
        )
        with pytest.raises(CouponExhausted):
            await service.redeem(
                session,
                coupon.code,
                buyer.id,
                event.id,
                organizer.id,
                5000,
                "USD",
                (await booking_rows(session, 1))[0],
            )

        await service.release(session, booking_id)
        await service.redeem(
            session,
            coupon.code,
            buyer.id,
            event.id,
            organizer.id,
            5000,
            "USD",
            (await booking_rows(session, 1))[0],
        )

        await session.refresh(coupon)
        assert coupon.redeemed_count == 1


class TestConcurrentRedemptions:
    async def test_a_limit_of_ten_holds_against_fifty_concurrent_buyers(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            organizer = await create_user(session, role=Role.organizer)
            event = await create_event(session, organizer=organizer)
            buyers = [await create_user(session) for _ in range(50)]
            bookings = iter(await booking_rows(session, 50))
            coupon = await create_coupon(
                session, created_by=organizer, organizer_id=organizer.id, max_redemptions=10
            )
            await session.commit()
        # At most 20 connections at once: the PostgreSQL server is shared.
        gate = asyncio.Semaphore(20)

        async def buy(buyer_id: uuid.UUID) -> bool:
            async with gate, committed() as session:
                try:
                    await service.redeem(
                        session,
                        coupon.code,
                        buyer_id,
                        event.id,
                        organizer.id,
                        5000,
                        "USD",
                        next(bookings),
                    )
                except CouponExhausted:
                    await session.rollback()
                    return False
                await session.commit()
                return True

        outcomes = await asyncio.gather(*(buy(b.id) for b in buyers))

        assert sum(outcomes) == 10
        async with committed() as session:
            stored = await session.get(Coupon, coupon.id)
            assert stored is not None
            assert stored.redeemed_count == 10
            uses = await session.scalar(
                select(func.count())
                .select_from(CouponRedemption)
                .where(CouponRedemption.coupon_id == coupon.id)
            )
            assert uses == 10

    async def test_one_buyer_racing_five_bookings_gets_one_use_under_a_per_user_limit(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            organizer = await create_user(session, role=Role.organizer)
            event = await create_event(session, organizer=organizer)
            buyer = await create_user(session)
            coupon = await create_coupon(session, created_by=organizer, max_per_user=1)
            bookings = iter(await booking_rows(session, 5))
            await session.commit()

        async def book() -> bool:
            async with committed() as session:
                try:
                    await service.redeem(
                        session,
                        coupon.code,
                        buyer.id,
                        event.id,
                        organizer.id,
                        5000,
                        "USD",
                        next(bookings),
                    )
                except CouponPerUserLimit:
                    await session.rollback()
                    return False
                await session.commit()
                return True

        outcomes = await asyncio.gather(*(book() for _ in range(5)))

        assert sum(outcomes) == 1
        async with committed() as session:
            uses = await session.scalar(
                select(func.count())
                .select_from(CouponRedemption)
                .where(CouponRedemption.user_id == buyer.id)
            )
            assert uses == 1
