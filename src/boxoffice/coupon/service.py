"""Coupon rules: who may create which coupon, whether one applies, and using it up safely."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.coupon.errors import (
    CouponCodeTaken,
    CouponCurrencyMismatch,
    CouponExhausted,
    CouponExpired,
    CouponInactive,
    CouponInvalidWindow,
    CouponLimitBelowUse,
    CouponNotApplicable,
    CouponNotFound,
    CouponNotYetValid,
    CouponPerUserLimit,
    CouponScopeForbidden,
    EventNotFound,
)
from boxoffice.coupon.models import Coupon, CouponKind, CouponRedemption
from boxoffice.coupon.repository import CouponRepository
from boxoffice.coupon.schemas import CouponCreate, CouponUpdate
from boxoffice.kit.pagination import PageParams
from boxoffice.kit.time import utcnow
from boxoffice.payment.pricing import coupon_discount


@dataclass(frozen=True, slots=True)
class Discount:
    coupon_id: uuid.UUID
    code: str
    kind: CouponKind
    value: int
    subtotal_minor: int
    amount_minor: int
    currency: str


def _manages_any(user: User) -> bool:
    return has_permission(user.role, Permission.coupon_manage_any)


def _owns(user: User, coupon: Coupon) -> bool:
    return coupon.created_by == user.id or coupon.organizer_id == user.id


async def create_coupon(session: AsyncSession, user: User, data: CouponCreate) -> Coupon:
    """A new coupon; organizers only for their own events (admins: any scope)."""
    repo = CouponRepository(session)
    organizer_id = data.organizer_id
    if not _manages_any(user):
        if organizer_id not in (None, user.id):
            raise CouponScopeForbidden()
        organizer_id = user.id
    if data.event_ids:
        organizers = await repo.event_organizers(data.event_ids)
        missing = [str(e) for e in data.event_ids if e not in organizers]
        if missing:
            raise EventNotFound(extra={"event_ids": missing})
        if organizer_id is not None and any(o != organizer_id for o in organizers.values()):
            raise CouponScopeForbidden("Every event must belong to the coupon's organizer")
    if await repo.get_by_code(data.code) is not None:
        raise CouponCodeTaken()
    if data.valid_from is None and data.valid_until is not None and data.valid_until <= utcnow():
        # valid_from defaults to now: an end already past would make an empty window.
        raise CouponInvalidWindow("valid_until is already past (valid_from defaults to now)")
    coupon = Coupon(
        code=data.code,
        kind=data.kind,
        value=data.value,
        currency=data.currency,
        valid_until=data.valid_until,
        max_redemptions=data.max_redemptions,
        redeemed_count=0,
        max_per_user=data.max_per_user,
        organizer_id=organizer_id,
        event_ids=list(dict.fromkeys(data.event_ids)),
        created_by=user.id,
        active=True,
    )
    if data.valid_from is not None:
        coupon.valid_from = data.valid_from
    added = await repo.add(coupon)
    audit.record(
        session,
        user,
        AuditAction.coupon_created,
        "coupon",
        added.id,
        organizer_id=organizer_id,
        code=added.code,
        kind=added.kind.value,
        value=added.value,
        currency=added.currency,
        max_redemptions=added.max_redemptions,
        event_ids=[str(e) for e in added.event_ids],
    )
    return added


async def list_coupons(
    session: AsyncSession, user: User, page: PageParams, *, active: bool | None
) -> tuple[Sequence[Coupon], int]:
    """The caller's coupons (all coupons for admins), newest first."""
    return await CouponRepository(session).list(
        owner_id=None if _manages_any(user) else user.id,
        active=active,
        limit=page.limit,
        offset=page.offset,
    )


async def get_coupon(session: AsyncSession, user: User, coupon_id: uuid.UUID) -> Coupon:
    """A coupon its owner (or an admin) may see; 404 for anyone else."""
    coupon = await CouponRepository(session).get(coupon_id)
    if coupon is None or not (_manages_any(user) or _owns(user, coupon)):
        raise CouponNotFound()
    return coupon


async def update_coupon(
    session: AsyncSession, user: User, coupon_id: uuid.UUID, data: CouponUpdate
) -> Coupon:
    """Deactivate or reactivate a coupon, or change its limits and validity."""
    coupon = await get_coupon(session, user, coupon_id)
    sent = data.model_fields_set
    before = {name: getattr(coupon, name) for name in sent}
    if "active" in sent and data.active is not None:
        coupon.active = data.active
    if "max_redemptions" in sent:
        if data.max_redemptions is not None and data.max_redemptions < coupon.redeemed_count:
            raise CouponLimitBelowUse(extra={"redeemed_count": coupon.redeemed_count})
        coupon.max_redemptions = data.max_redemptions
    if "max_per_user" in sent:
        coupon.max_per_user = data.max_per_user
    if "valid_from" in sent and data.valid_from is not None:
        coupon.valid_from = data.valid_from
    if "valid_until" in sent:
        coupon.valid_until = data.valid_until
    if coupon.valid_until is not None and coupon.valid_until <= coupon.valid_from:
        raise CouponInvalidWindow()
    changes = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name in sorted(sent)
        if (value := getattr(coupon, name)) != before[name]
    }
    await session.flush()
    await session.refresh(coupon)
    if changes:
        audit.record(
            session,
            user,
            AuditAction.coupon_updated,
            "coupon",
            coupon.id,
            organizer_id=coupon.organizer_id,
            code=coupon.code,
            changes=changes,
        )
    return coupon


def _check_applies(
    coupon: Coupon,
    *,
    now: datetime,
    event_id: uuid.UUID,
    organizer_id: uuid.UUID,
    currency: str,
) -> None:
    if not coupon.active:
        raise CouponInactive()
    if now < coupon.valid_from:
        raise CouponNotYetValid(extra={"valid_from": coupon.valid_from.isoformat()})
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise CouponExpired(extra={"valid_until": coupon.valid_until.isoformat()})
    if coupon.organizer_id is not None and coupon.organizer_id != organizer_id:
        raise CouponNotApplicable()
    if coupon.event_ids and event_id not in coupon.event_ids:
        raise CouponNotApplicable()
    if coupon.kind is CouponKind.fixed and coupon.currency != currency.upper():
        raise CouponCurrencyMismatch(extra={"coupon_currency": coupon.currency})


async def _applicable(
    repo: CouponRepository,
    code: str,
    *,
    user_id: uuid.UUID,
    event_id: uuid.UUID,
    organizer_id: uuid.UUID,
    currency: str,
) -> Coupon:
    coupon = await repo.get_by_code(code)
    if coupon is None:
        raise CouponNotFound()
    _check_applies(
        coupon, now=utcnow(), event_id=event_id, organizer_id=organizer_id, currency=currency
    )
    if coupon.max_per_user is not None:
        await repo.lock_user_uses(coupon.id, user_id)
        if await repo.active_uses_by(coupon.id, user_id) >= coupon.max_per_user:
            raise CouponPerUserLimit(extra={"max_per_user": coupon.max_per_user})
    return coupon


def _discount(coupon: Coupon, subtotal_minor: int, currency: str) -> Discount:
    return Discount(
        coupon_id=coupon.id,
        code=coupon.code,
        kind=coupon.kind,
        value=coupon.value,
        subtotal_minor=subtotal_minor,
        amount_minor=coupon_discount(coupon.kind, coupon.value, subtotal_minor),
        currency=currency.upper(),
    )


async def preview(
    session: AsyncSession,
    *,
    code: str,
    user_id: uuid.UUID,
    event_id: uuid.UUID,
    subtotal_minor: int,
    currency: str,
) -> Discount:
    """What the coupon would take off, without using it (POST /api/coupons/validate)."""
    repo = CouponRepository(session)
    organizers = await repo.event_organizers([event_id])
    if event_id not in organizers:
        raise EventNotFound()
    coupon = await _applicable(
        repo,
        code,
        user_id=user_id,
        event_id=event_id,
        organizer_id=organizers[event_id],
        currency=currency,
    )
    if coupon.max_redemptions is not None and coupon.redeemed_count >= coupon.max_redemptions:
        raise CouponExhausted()
    return _discount(coupon, subtotal_minor, currency)


async def redeem(
    session: AsyncSession,
    code: str,
    user_id: uuid.UUID,
    event_id: uuid.UUID,
    organizer_id: uuid.UUID,
    subtotal_minor: int,
    currency: str,
    booking_id: uuid.UUID,
) -> Discount:
    """Use the coupon for a booking: checks every rule and the limits, under concurrency."""
    repo = CouponRepository(session)
    coupon = await _applicable(
        repo,
        code,
        user_id=user_id,
        event_id=event_id,
        organizer_id=organizer_id,
        currency=currency,
    )
    if not await repo.claim_use(coupon.id):
        raise CouponExhausted()
    discount = _discount(coupon, subtotal_minor, currency)
    await repo.add_redemption(
        CouponRedemption(
            coupon_id=coupon.id,
            user_id=user_id,
            booking_id=booking_id,
            amount_minor=discount.amount_minor,
            currency=discount.currency,
        )
    )
    return discount


async def release(session: AsyncSession, booking_id: uuid.UUID) -> bool:
    """Give back the coupon use of a cancelled or expired booking; False if it had none."""
    return await CouponRepository(session).release_booking(booking_id) is not None
