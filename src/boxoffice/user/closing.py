"""Deleting an account, by its owner or by an admin, and giving back what it still had going.

A deleted account's live holds are released, its unpaid bookings cancelled and its waitlist
entries left, each through its own domain's rules, so the places go back on sale (and to the
waitlist) at once instead of when they would have lapsed. A request signed in before the
deletion committed may still be placing a hold or a booking, so the worker does it once
more a minute later (`WIND_DOWN`). Paid bookings and their tickets stay: the money and the
seats are the business's record.
"""

import uuid
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.errors import WrongPassword
from boxoffice.auth.models import Role, User
from boxoffice.auth.security import verify_password_off_loop
from boxoffice.booking import errors as booking_errors
from boxoffice.booking import holding, holds
from boxoffice.booking import service as booking_service
from boxoffice.booking.models import BookingStatus
from boxoffice.booking.repository import BookingFilters, BookingRepository
from boxoffice.config import Settings
from boxoffice.kit.jobs import enqueue, job
from boxoffice.kit.pagination import PageParams, all_pages
from boxoffice.user import service
from boxoffice.user.errors import AccountHasTickets, SelfDeletionNotAllowed
from boxoffice.waitlist import errors as waitlist_errors
from boxoffice.waitlist import service as waitlist_service
from boxoffice.waitlist.models import OPEN

log = structlog.get_logger(__name__)

WIND_DOWN = "user.wind_down"
WIND_DOWN_AGAIN_SECONDS = 60


@dataclass(frozen=True, slots=True)
class WoundDown:
    holds_released: int
    bookings_cancelled: int
    waitlist_entries_left: int


async def wind_down(session: AsyncSession, user: User) -> WoundDown:
    """Leave the account's waitlists, release its live holds, cancel its unpaid bookings."""
    # Waitlist entries, then holds, then bookings: the order a showtime's cancel locks
    # them in (`payment.booking_refunds.settle_cancelled_showtimes`).
    left = 0
    for entry in await waitlist_service.my_entries(session, user):
        if entry.status in OPEN:
            try:
                await waitlist_service.leave(session, user, entry.id)
                left += 1
            except waitlist_errors.EntryClosed:
                pass
    released = 0
    for hold in await holds.live_holds(session, user, None):
        try:
            await holds.release_hold(session, user, hold.id)
            released += 1
        except (booking_errors.HoldNotActive, booking_errors.HoldNotFound):
            pass  # booked or lapsed meanwhile
    repo = BookingRepository(session)
    unpaid = BookingFilters(user_id=user.id, status=BookingStatus.pending_payment)
    pending = await all_pages(lambda page: repo.list_bookings(unpaid, page.limit, page.offset))
    cancelled = 0
    for booking in pending:
        try:
            await booking_service.cancel(session, user, booking.id, version=None)
            cancelled += 1
        except (booking_errors.IllegalTransition, booking_errors.BookingVersionConflict):
            pass  # paid or expired meanwhile
    done = WoundDown(released, cancelled, left)
    log.info("account_wound_down", user_id=str(user.id), **asdict(done))
    return done


async def _close(session: AsyncSession, user: User) -> None:
    await wind_down(session, user)
    await service.scrub(session, user)
    await enqueue(
        session, WIND_DOWN, {"user_id": str(user.id)}, delay_seconds=WIND_DOWN_AGAIN_SECONDS
    )


async def delete_own_account(
    session: AsyncSession, user: User, settings: Settings, password: str | None
) -> None:
    """A buyer deletes their own account, confirming with their password (if it has one).

    Refused while they hold tickets for showtimes still to come: cancel those (for a
    refund, under the event's policy) or give them away first.
    """
    if user.role is not Role.buyer:
        raise SelfDeletionNotAllowed()
    if user.password_hash is not None and not (
        password and await verify_password_off_loop(user.password_hash, password)
    ):
        raise WrongPassword("Confirm with your current password")
    _, upcoming = await holding.my_tickets(
        session, user, PageParams(limit=1, offset=0), settings, upcoming=True
    )
    if upcoming:
        raise AccountHasTickets(extra={"tickets": upcoming})
    await _close(session, user)
    log.info("user_deleted", user_id=str(user.id), by="self")


async def delete_by_admin(session: AsyncSession, admin: User, user_id: uuid.UUID) -> None:
    """An admin deletes an account (its tickets stay valid, its paid bookings stay)."""
    user = await service.managed_user(session, admin, user_id)
    await _close(session, user)
    audit.record(session, admin, AuditAction.user_deleted, "user", user.id)
    log.info("user_deleted", user_id=str(user.id), by=str(admin.id))


@job(WIND_DOWN)
async def _wind_down_again(session: AsyncSession, payload: dict[str, Any]) -> None:
    user = await session.get(User, uuid.UUID(payload["user_id"]))
    if user is not None and user.deleted_at is not None:
        await wind_down(session, user)
