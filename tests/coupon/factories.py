import itertools
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.coupon.models import Coupon, CouponKind
from boxoffice.kit.time import utcnow

_counter = itertools.count(1)


async def create_coupon(
    session: AsyncSession,
    *,
    created_by: User,
    code: str | None = None,
    kind: CouponKind = CouponKind.percent,
    value: int = 10,
    currency: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    max_redemptions: int | None = None,
    max_per_user: int | None = None,
    organizer_id: uuid.UUID | None = None,
    event_ids: list[uuid.UUID] | None = None,
    active: bool = True,
) -> Coupon:
    coupon = Coupon(
        code=code or f"SAVE{next(_counter)}-{uuid.uuid4().hex[:6]}",
        kind=kind,
        value=value,
        currency=currency,
        valid_from=valid_from or utcnow() - timedelta(days=1),
        valid_until=valid_until,
        max_redemptions=max_redemptions,
        redeemed_count=0,
        max_per_user=max_per_user,
        organizer_id=organizer_id,
        event_ids=event_ids or [],
        created_by=created_by.id,
        active=active,
    )
    session.add(coupon)
    await session.flush()
    return coupon
