import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.catalog.models import Event
from boxoffice.coupon.models import Coupon, CouponRedemption


class CouponRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, coupon: Coupon) -> Coupon:
        self.session.add(coupon)
        await self.session.flush()
        await self.session.refresh(coupon)
        return coupon

    async def get(self, coupon_id: uuid.UUID) -> Coupon | None:
        return await self.session.get(Coupon, coupon_id, populate_existing=True)

    async def get_by_code(self, code: str) -> Coupon | None:
        # `code` is CITEXT: the comparison ignores case.
        return await self.session.scalar(
            select(Coupon).where(Coupon.code == code).execution_options(populate_existing=True)
        )

    async def list(
        self, *, owner_id: uuid.UUID | None, active: bool | None, limit: int, offset: int
    ) -> tuple[Sequence[Coupon], int]:
        conditions: list[Any] = []
        if owner_id is not None:
            conditions.append(or_(Coupon.created_by == owner_id, Coupon.organizer_id == owner_id))
        if active is not None:
            conditions.append(Coupon.active.is_(active))
        total = await self.session.scalar(
            select(func.count()).select_from(Coupon).where(*conditions)
        )
        rows = await self.session.scalars(
            select(Coupon)
            .where(*conditions)
            .order_by(Coupon.created_at.desc(), Coupon.id)
            .limit(limit)
            .offset(offset)
            .execution_options(populate_existing=True)
        )
        return rows.all(), total or 0

    async def event_organizers(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """event id -> organizer id, for the events that exist."""
        rows = await self.session.execute(
            select(Event.id, Event.organizer_id).where(Event.id.in_(event_ids))
        )
        return {row[0]: row[1] for row in rows}

    async def lock_user_uses(self, coupon_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Serialise one buyer's redemptions of one coupon (nobody else waits on it)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"coupon-use:{coupon_id}:{user_id}"},
        )

    async def active_uses_by(self, coupon_id: uuid.UUID, user_id: uuid.UUID) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(CouponRedemption)
            .where(
                CouponRedemption.coupon_id == coupon_id,
                CouponRedemption.user_id == user_id,
                CouponRedemption.released_at.is_(None),
            )
        )
        return int(count or 0)

    async def claim_use(self, coupon_id: uuid.UUID) -> bool:
        """Count one more use if the limit allows it; False when it is used up.

        Concurrent claims queue on the coupon's row; each re-reads the count after the one
        before it commits, so the limit holds under any concurrency.
        """
        claimed = await self.session.scalar(
            update(Coupon)
            .where(
                Coupon.id == coupon_id,
                Coupon.active.is_(True),
                or_(
                    Coupon.max_redemptions.is_(None),
                    Coupon.redeemed_count < Coupon.max_redemptions,
                ),
            )
            .values(redeemed_count=Coupon.redeemed_count + 1)
            .returning(Coupon.id)
        )
        return claimed is not None

    async def add_redemption(self, redemption: CouponRedemption) -> CouponRedemption:
        self.session.add(redemption)
        await self.session.flush()
        return redemption

    async def release_booking(self, booking_id: uuid.UUID) -> uuid.UUID | None:
        """Mark the booking's active redemption released; the coupon's id, or None."""
        coupon_id = await self.session.scalar(
            update(CouponRedemption)
            .where(
                CouponRedemption.booking_id == booking_id,
                CouponRedemption.released_at.is_(None),
            )
            .values(released_at=func.now())
            .returning(CouponRedemption.coupon_id)
        )
        if coupon_id is not None:
            await self.session.execute(
                update(Coupon)
                .where(Coupon.id == coupon_id)
                .values(redeemed_count=Coupon.redeemed_count - 1)
            )
        return coupon_id
