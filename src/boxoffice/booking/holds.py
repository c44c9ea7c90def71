"""Hold rules: who may hold what, for how long; stock changes go through `inventory`."""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking import errors
from boxoffice.booking.models import Hold, HoldStatus
from boxoffice.booking.repository import BookingRepository, HoldRow, SaleWindow
from boxoffice.booking.schemas import HeldUnit, HoldCreate
from boxoffice.booking.schemas import Hold as HoldOut
from boxoffice.catalog.models import EventStatus, ShowtimeStatus
from boxoffice.config import BookingSettings
from boxoffice.db.transaction import Db
from boxoffice.inventory import claim_service
from boxoffice.inventory.errors import SectionNotFound, SoldOut


async def resolve_showtime(
    repo: BookingRepository,
    showtime_id: uuid.UUID | None,
    event_id: uuid.UUID | None,
    *,
    lock_buyer: uuid.UUID | None = None,
) -> SaleWindow:
    """The showtime named, or the one showtime of the event that is on sale."""
    if showtime_id is None:
        candidates = await repo.showtimes_on_sale(event_id) if event_id else []
        if not candidates:
            raise errors.SalesClosed("The event has no showtime on sale")
        if len(candidates) > 1:
            raise errors.ShowtimeRequired()
        showtime_id = candidates[0]
    window = await repo.sale_window(showtime_id, lock_buyer=lock_buyer)
    if window is None:
        raise errors.SalesClosed("No such showtime is on sale")
    return window


def check_still_selling(window: SaleWindow) -> None:
    """Refuse (`403 sales_closed`) once the event or the showtime is cancelled (or the
    event unpublished): for a purchase already under way (a held hold becoming a booking,
    seats added to a pending booking), which the sale's own times do not stop."""
    if (
        window.event_status is not EventStatus.published
        or window.showtime_status is not ShowtimeStatus.scheduled
    ):
        raise errors.SalesClosed(
            "The showtime is no longer on sale",
            extra={"event_status": window.event_status, "showtime_status": window.showtime_status},
        )


def check_on_sale(window: SaleWindow, access_code: str | None = None) -> None:
    """Refuse unless the showtime is on sale to this buyer now: `403 sales_closed`, or during
    a presale without one of its codes `presale_code_required` / `presale_code_invalid`."""
    check_still_selling(window)
    now = window.now
    if window.sale_starts_at is not None and now < window.sale_starts_at:
        opening = {"sale_starts_at": window.sale_starts_at.isoformat()}
        presale = window.presale_starts_at
        if presale is None or now < presale:
            if presale is not None:
                opening["presale_starts_at"] = presale.isoformat()
            raise errors.SalesClosed("Sales have not started yet", extra=opening)
        if access_code is None:
            raise errors.PresaleCodeRequired(extra=opening)
        if access_code not in window.presale_codes:
            raise errors.PresaleCodeInvalid(extra=opening)
    if (window.sale_ends_at is not None and now > window.sale_ends_at) or now >= window.starts_at:
        raise errors.SalesClosed("Sales have ended")


def check_may_buy(user: User, settings: BookingSettings) -> None:
    """With `require_verified_email`, only an account with a verified address may buy."""
    if settings.require_verified_email and user.email_verified_at is None:
        raise errors.EmailVerificationRequired()


async def place_hold(db: Db, user: User, data: HoldCreate, settings: BookingSettings) -> HoldRow:
    """Claim units for the buyer, all or nothing, for the event's hold TTL."""
    check_may_buy(user, settings)
    repo = BookingRepository(db)
    window = await resolve_showtime(repo, data.showtime_id, data.event_id, lock_buyer=user.id)
    check_on_sale(window, data.access_code)
    quantity = len(data.seat_ids or data.unit_ids or []) or (data.quantity or 0)
    if quantity > window.max_tickets_per_booking:
        raise errors.TicketCapExceeded(
            f"At most {window.max_tickets_per_booking} tickets per booking",
            extra={"max_tickets_per_booking": window.max_tickets_per_booking},
        )
    await check_buyer_limit(repo, window, user.id, quantity)
    now = window.now
    hold = HoldRow(
        id=uuid.uuid4(),
        showtime_id=window.showtime_id,
        user_id=user.id,
        status=HoldStatus.active,
        quantity=quantity,
        created_at=now,
        expires_at=now + timedelta(seconds=window.hold_ttl_seconds),
        max_expires_at=now
        + timedelta(seconds=max(settings.hold_max_seconds, window.hold_ttl_seconds)),
    )
    # Claim first: a refused claim changed nothing, so no empty hold row is left behind.
    # The buyer's live holds are counted by the statement that inserts this one; over the
    # limit, raising rolls the claim back with everything else.
    await claim(db, hold, data, hold_back_accessible=window.holds_back_accessible)
    units, others = await repo.insert_hold(hold)
    if others >= settings.active_holds_per_showtime:
        raise errors.HoldLimitReached()
    return replace(hold, units=tuple(units))


async def check_buyer_limit(
    repo: BookingRepository, window: SaleWindow, user_id: uuid.UUID, adding: int
) -> None:
    """Refuse `adding` more places when the buyer would pass the event's per-buyer limit
    on this showtime. Call under the buyer's lock (`sale_window(lock_buyer=...)`), so two
    requests of one buyer cannot both pass on the same count."""
    limit = window.max_tickets_per_buyer
    if limit is None:
        return
    live = await repo.buyer_live_units(user_id, window.showtime_id)
    if live + adding > limit:
        raise errors.BuyerTicketLimitReached(
            f"At most {limit} tickets per buyer for this showtime; you have {live}",
            extra={"max_tickets_per_buyer": limit, "live_tickets": live},
        )


async def claim(
    db: Db,
    hold: Hold | HoldRow,
    data: HoldCreate,
    *,
    hold_back_accessible: bool = True,
) -> list[int]:
    """Claim the units a hold request asks for under `hold`. Best available takes accessible
    seats alone if asked, none while they are held back, and any once they are released."""
    if data.seat_ids or data.unit_ids:
        return await claim_service.claim_units(
            db,
            hold.showtime_id,
            hold.id,
            hold.expires_at,
            unit_ids=data.unit_ids or (),
            seat_ids=data.seat_ids or (),
        )
    # Sections only: GA claims need no seats nor seat states, so no seat map is built.
    sections = await claim_service.sections(db, hold.showtime_id)
    section_ids: list[str] | None = None
    if data.price_tier_id is not None:
        section_ids = [
            s.id for s in sections if s.tier is not None and s.tier["id"] == str(data.price_tier_id)
        ]
        if not section_ids:
            raise SectionNotFound("No such price tier in this showtime")
    elif data.section_id is not None:
        section_ids = [claim_service.find_section(sections, data.section_id).id]
    scope = [s for s in sections if section_ids is None or s.id in section_ids]
    reserved = [s.id for s in scope if s.kind == "reserved"]
    quantity = hold.quantity
    if reserved:
        return await claim_service.claim_best_available(
            db,
            hold.showtime_id,
            quantity,
            hold.id,
            hold.expires_at,
            section_ids=reserved,
            allow_split=data.allow_split,
            accessible=True if data.accessible else (False if hold_back_accessible else None),
        )
    if data.accessible:
        raise SoldOut("No accessible seats here: general admission has no seats to choose")
    general = [s for s in scope if s.kind == "general_admission"]
    for index, section in enumerate(general):
        try:
            return await claim_service.claim_general_admission(
                db, hold.showtime_id, uuid.UUID(section.id), quantity, hold.id, hold.expires_at
            )
        except SoldOut:
            if index == len(general) - 1:
                raise
    raise SoldOut()


async def _own_hold(repo: BookingRepository, user: User, hold_id: uuid.UUID) -> Hold:
    hold = await repo.get_hold(hold_id, lock=True)
    if hold is None or hold.user_id != user.id:
        raise errors.HoldNotFound()
    return hold


async def release_hold(session: AsyncSession, user: User, hold_id: uuid.UUID) -> Hold:
    """Give the hold's seats back at once."""
    repo = BookingRepository(session)
    hold = await _own_hold(repo, user, hold_id)
    if hold.status is not HoldStatus.active:
        raise errors.HoldNotActive()
    released = await claim_service.release_hold_units(session, hold.showtime_id, hold.id)
    await repo.end_hold(hold, HoldStatus.released)
    await claim_service.units_released(session, hold.showtime_id, released, "released")
    return hold


async def lock_for_cancelled(
    session: AsyncSession, showtime_ids: Sequence[uuid.UUID]
) -> list[Hold]:
    """The cancelled showtimes' active holds, locked: before their bookings and before any
    unit (the lock order of `inventory.claim_repository`)."""
    return list(await BookingRepository(session).lock_active_holds(showtime_ids))


async def end_for_cancelled(session: AsyncSession, held: Sequence[Hold]) -> None:
    """Their showtime was cancelled: give the holds' units back (their units locked already,
    `claim_service.lock_claimable_units`). A live hold ends `released`, a lapsed one
    `expired`; a waitlist offer's entry was closed by the waitlist."""
    repo = BookingRepository(session)
    now = await repo.now()
    by_showtime: dict[uuid.UUID, list[int]] = {}
    for hold in held:
        released = await claim_service.release_hold_units(session, hold.showtime_id, hold.id)
        by_showtime.setdefault(hold.showtime_id, []).extend(released)
        status = HoldStatus.expired if hold.expires_at < now else HoldStatus.released
        await repo.end_hold(hold, status)
    for showtime_id, unit_ids in by_showtime.items():
        await claim_service.units_released(session, showtime_id, unit_ids, "showtime_cancelled")


async def extend_hold(
    session: AsyncSession, user: User, hold_id: uuid.UUID, settings: BookingSettings
) -> Hold:
    """Push the expiry out by `extend_seconds`, never past the hold's hard cap."""
    repo = BookingRepository(session)
    hold = await _own_hold(repo, user, hold_id)
    now = await repo.now()
    if hold.status is not HoldStatus.active:
        raise errors.HoldNotActive()
    if hold.expires_at < now:
        raise errors.HoldExpired()
    new_expiry = min(hold.max_expires_at, now + timedelta(seconds=settings.extend_seconds))
    if new_expiry <= hold.expires_at:
        raise errors.HoldExtensionCapped(extra={"max_expires_at": hold.max_expires_at.isoformat()})
    units = await claim_service.extend_hold_units(session, hold.showtime_id, hold.id, new_expiry)
    if len(units) < hold.quantity:
        raise errors.HoldExpired()
    hold.expires_at = new_expiry
    await session.flush()
    return hold


async def live_holds(
    session: AsyncSession, user: User, showtime_id: uuid.UUID | None
) -> list[Hold]:
    return list(await BookingRepository(session).live_holds(user.id, showtime_id))


async def describe(db: Db, holds: Sequence[Hold | HoldRow]) -> list[HoldOut]:
    """Holds with the units each still holds."""
    unknown = [h.id for h in holds if not isinstance(h, HoldRow) or h.units is None]
    units = await BookingRepository(db).hold_units(unknown) if unknown else {}
    for h in holds:
        if isinstance(h, HoldRow) and h.units is not None:
            units[h.id] = list(h.units)
    return [
        HoldOut(
            id=h.id,
            showtime_id=h.showtime_id,
            status=h.status,
            quantity=h.quantity,
            created_at=h.created_at,
            expires_at=h.expires_at,
            max_expires_at=h.max_expires_at,
            units=[
                HeldUnit(
                    unit_id=u.unit_id, section_id=u.section_id, seat_id=u.seat_id, label=u.label
                )
                for u in units.get(h.id, [])
            ],
        )
        for h in holds
    ]
