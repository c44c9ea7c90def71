"""Admission at the door: a scanned ticket code is checked in once, and only once.

Door staff are the event's organizer, the editors they granted, and admins. A check-in
locks the ticket's booking (FOR SHARE) before it marks the ticket, and a buyer's cancel
locks the same row (FOR UPDATE, `service.refuse_if_used`) before it looks for admitted
tickets: whichever commits first, the other sees it. Two scanners racing on one code: the
ticket row's lock lets one update through, and the other finds `checked_in_at` set.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, String, bindparam, cast, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.models import User
from boxoffice.booking import errors
from boxoffice.booking.models import Booking, BookingStatus, Ticket, TicketStatus
from boxoffice.booking.schemas import (
    CheckIn,
    CheckInCreate,
    CheckInSummary,
    CheckInSync,
    CheckInSyncResult,
    DoorTicket,
    Manifest,
    ManifestTicket,
    ScanOutcome,
)
from boxoffice.booking.tickets import (
    check_live,
    previous_ticket_keys,
    signed_code,
    superseded_version,
    ticket_key,
    verify_ticket_code,
)
from boxoffice.config import Settings
from boxoffice.inventory.service import check_manager
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.pagination import PageParams
from boxoffice.kit.search import contains_pattern

# A ticket as the door sees it (the fields of `CheckIn`), from tickets joined to bookings.
_SEEN = (
    Ticket.id.label("ticket_id"),
    Ticket.booking_id,
    Booking.showtime_id,
    Ticket.unit_id,
    Ticket.section_id,
    Ticket.seat_id,
    Ticket.label,
    Ticket.checked_in_at,
    Ticket.checked_in_by,
)
# One ticket with what the rules need; the booking row locked against a concurrent cancel.
_TICKET = (
    select(
        *_SEEN,
        Ticket.status,
        Ticket.code_version,
        Booking.status.label("booking_status"),
        Booking.event_id,
        Booking.user_id,
    )
    .join(Booking, Booking.id == Ticket.booking_id)
    .where(Ticket.id == bindparam("ticket_id"))
    .with_for_update(read=True, of=Booking)
)
# At the scan's time when a scanner synced it later (never ahead of the database's clock).
# A scanned code admits only at the version it was checked at: a transfer that commits
# between the check and this statement makes the giver's code miss.
_ADMIT = text(
    """
    UPDATE tickets SET checked_in_at = least(coalesce(:at, now()), now()), checked_in_by = :by
     WHERE id = :ticket_id AND status = 'issued' AND checked_in_at IS NULL
       AND (CAST(:version AS integer) IS NULL OR code_version = :version)
    RETURNING checked_in_at
    """
).bindparams(bindparam("at", type_=DateTime(timezone=True)))
_UNDO = text(
    """
    UPDATE tickets SET checked_in_at = NULL, checked_in_by = NULL
     WHERE id = :ticket_id AND checked_in_at IS NOT NULL
    RETURNING id
    """
)
_SUMMARY = text(
    """
    SELECT count(*) AS issued, count(t.checked_in_at) AS checked_in
      FROM tickets t JOIN bookings b ON b.id = t.booking_id
     WHERE b.showtime_id = :showtime_id AND t.status = 'issued'
    """
)


@dataclass(frozen=True, slots=True)
class _Ticket:
    seen: CheckIn
    """The ticket as the door sees it."""
    status: TicketStatus
    code_version: int
    booking_status: BookingStatus
    event_id: uuid.UUID
    user_id: uuid.UUID


async def _ticket(session: AsyncSession, ticket_id: uuid.UUID) -> _Ticket | None:
    row = (await session.execute(_TICKET, {"ticket_id": ticket_id})).one_or_none()
    if row is None:
        return None
    return _Ticket(
        seen=CheckIn.model_validate(row._asdict()),
        status=row.status,
        code_version=row.code_version,
        booking_status=row.booking_status,
        event_id=row.event_id,
        user_id=row.user_id,
    )


def _ticket_id(code: str) -> uuid.UUID:
    try:
        return uuid.UUID(hex=code.partition(".")[0])
    except ValueError as exc:
        raise errors.TicketCodeInvalid() from exc


async def check_in(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    data: CheckInCreate,
    settings: Settings,
) -> CheckIn:
    """Admit the ticket a scanned code (or, by hand, an id) names, at `showtime_id`'s door."""
    organizer_id = await check_manager(session, user, showtime_id, action="check tickets in")
    return await _admit(session, user, showtime_id, organizer_id, data, settings)


async def _admit(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    organizer_id: uuid.UUID,
    data: CheckInCreate,
    settings: Settings,
    at: datetime | None = None,
) -> CheckIn:
    """One admission, by a caller already known to be this door's staff; `at`: when a
    scanner that was offline scanned it."""
    if data.code is not None:
        code = data.code.strip()
        ticket = await _ticket(session, _ticket_id(code))
        # The signature covers the ticket id, its unit and the code's version: a code with
        # a guessed or altered id fails here, before anything about the ticket is told.
        if ticket is None:
            raise errors.TicketCodeInvalid()
        unit_id, version = ticket.seen.unit_id, ticket.code_version
        if verify_ticket_code(settings, code, unit_id, version) != ticket.seen.ticket_id:
            if superseded_version(settings, code, unit_id, version) is not None:
                raise errors.TicketCodeSuperseded()
            raise errors.TicketCodeInvalid()
    else:
        # By hand, from the door list: only this showtime's tickets are there to be found.
        ticket = await _ticket(session, data.ticket_id) if data.ticket_id else None
        if ticket is None or ticket.seen.showtime_id != showtime_id:
            raise errors.TicketNotFound()
    if ticket.seen.showtime_id != showtime_id:
        raise errors.TicketWrongShowtime()
    check_live(ticket.status, ticket.booking_status)
    ticket_id = ticket.seen.ticket_id
    admitted = (
        await session.execute(
            _ADMIT,
            {
                "ticket_id": ticket_id,
                "by": user.id,
                "at": at,
                # By hand the staff checked the holder; the code's version does not matter.
                "version": ticket.code_version if data.code is not None else None,
            },
        )
    ).scalar_one_or_none()
    if admitted is None:
        # Another scan of the same code, a refund or a transfer committed first (the ticket
        # row's lock made this statement wait for it, then see its change).
        again = await _ticket(session, ticket_id)
        if again is not None and again.status is TicketStatus.void:
            raise errors.TicketVoid()
        if (
            again is not None
            and again.seen.checked_in_at is None
            and again.code_version != ticket.code_version
        ):
            raise errors.TicketCodeSuperseded()
        seen = again.seen if again is not None else ticket.seen
        raise errors.TicketAlreadyCheckedIn(seen.checked_in_at, seen=seen)
    out = ticket.seen.model_copy(update={"checked_in_at": admitted, "checked_in_by": user.id})
    extra: dict[str, Any] = {"by_hand": data.code is None}
    if at is not None:
        extra["synced"] = True
    await _emit(session, Topic.ticket_checked_in, ticket, organizer_id, out, extra)
    return out


async def sync(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    data: CheckInSync,
    settings: Settings,
) -> CheckInSyncResult:
    """Apply scans a scanner made offline: each as `POST .../check-ins` would, at its own
    time, all in one transaction; a refusal is an outcome, not an error.

    Scans are applied in ticket id order (then scan time), so two syncs naming the same
    tickets lock them in the same order and never deadlock; the results keep the request's
    order. A sync resent after a lost answer replays with its `Idempotency-Key`; without
    one, its scans come back `ticket_already_checked_in`, the ticket's `checked_in_at` and
    `checked_in_by` telling the scanner they were its own.
    """
    organizer_id = await check_manager(session, user, showtime_id, action="check tickets in")

    def order(index: int) -> tuple[str, datetime]:
        scan = data.scans[index]
        named = str(scan.ticket_id) if scan.ticket_id else (scan.code or "").strip()
        return named.partition(".")[0].replace("-", "").lower(), scan.scanned_at

    outcomes: dict[int, ScanOutcome] = {}
    for index in sorted(range(len(data.scans)), key=order):
        scan = data.scans[index]
        try:
            seen = await _admit(
                session, user, showtime_id, organizer_id, scan, settings, at=scan.scanned_at
            )
            outcomes[index] = ScanOutcome(index=index, admitted=True, code=None, ticket=seen)
        except errors.TicketAlreadyCheckedIn as exc:
            earlier = exc.seen if isinstance(exc.seen, CheckIn) else None
            outcomes[index] = ScanOutcome(
                index=index, admitted=False, code=exc.code, ticket=earlier
            )
        except (
            errors.TicketCodeInvalid,
            errors.TicketCodeSuperseded,
            errors.TicketNotFound,
            errors.TicketWrongShowtime,
            errors.TicketVoid,
            errors.TicketNotIssued,
        ) as exc:
            outcomes[index] = ScanOutcome(index=index, admitted=False, code=exc.code, ticket=None)
    results = [outcomes[i] for i in range(len(data.scans))]
    admitted = sum(r.admitted for r in results)
    return CheckInSyncResult(
        showtime_id=showtime_id,
        admitted=admitted,
        refused=len(results) - admitted,
        results=results,
    )


async def undo_check_in(
    session: AsyncSession, user: User, showtime_id: uuid.UUID, ticket_id: uuid.UUID
) -> CheckIn:
    """Take an admission back (scanned by mistake, or the holder may come in again)."""
    organizer_id = await check_manager(session, user, showtime_id, action="check tickets in")
    ticket = await _ticket(session, ticket_id)
    if ticket is None or ticket.seen.showtime_id != showtime_id:
        raise errors.TicketNotFound()
    undone = (await session.execute(_UNDO, {"ticket_id": ticket_id})).first()
    if undone is None:
        raise errors.TicketNotCheckedIn()
    out = ticket.seen.model_copy(update={"checked_in_at": None, "checked_in_by": None})
    audit.record(
        session,
        user,
        AuditAction.check_in_undone,
        "ticket",
        ticket_id,
        organizer_id=organizer_id,
        event_id=ticket.event_id,
        showtime_id=str(showtime_id),
        checked_in_at=ticket.seen.checked_in_at.isoformat() if ticket.seen.checked_in_at else None,
        checked_in_by=str(ticket.seen.checked_in_by) if ticket.seen.checked_in_by else None,
    )
    await _emit(
        session,
        Topic.ticket_check_in_undone,
        ticket,
        organizer_id,
        out,
        {"undone_by": str(user.id)},
    )
    return out


async def _emit(
    session: AsyncSession,
    topic: Topic,
    ticket: _Ticket,
    organizer_id: uuid.UUID,
    out: CheckIn,
    extra: dict[str, Any],
) -> None:
    """For the organizer's webhooks and the broker (door dashboards); nobody is notified."""
    payload = out.model_dump(mode="json") | extra
    payload |= {
        "event_id": str(ticket.event_id),
        "organizer_id": str(organizer_id),
        "user_id": str(ticket.user_id),
    }
    await emit(session, topic, out.ticket_id, payload)


async def summary(session: AsyncSession, user: User, showtime_id: uuid.UUID) -> CheckInSummary:
    await check_manager(session, user, showtime_id, action="see check-ins")
    row = (await session.execute(_SUMMARY, {"showtime_id": showtime_id})).one()
    return CheckInSummary(
        showtime_id=showtime_id,
        tickets_issued=row.issued,
        checked_in=row.checked_in,
        not_checked_in=row.issued - row.checked_in,
    )


async def door_list(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    page: PageParams,
    *,
    checked_in: bool | None = None,
    q: str | None = None,
) -> tuple[list[DoorTicket], int]:
    """The showtime's live tickets by holder name, for finding one whose code will not scan."""
    await check_manager(session, user, showtime_id, action="see the door list")
    where: list[ColumnElement[bool]] = [
        Booking.showtime_id == showtime_id,
        Ticket.status == TicketStatus.issued,
    ]
    if checked_in is not None:
        where.append(
            Ticket.checked_in_at.is_not(None) if checked_in else Ticket.checked_in_at.is_(None)
        )
    # The holder: whom the ticket was transferred to, else the buyer.
    holder = aliased(User)
    name = func.coalesce(holder.full_name, User.full_name)
    if q:
        pattern = contains_pattern(q.strip())
        where.append(
            or_(
                name.ilike(pattern, escape="\\"),
                Ticket.label.ilike(pattern, escape="\\"),
                cast(Booking.id, String).ilike(pattern, escape="\\"),
            )
        )
    base = (
        select(*_SEEN, name.label("holder_name"))
        .join(Booking, Booking.id == Ticket.booking_id)
        .join(User, User.id == Booking.user_id)
        .outerjoin(holder, holder.id == Ticket.holder_id)
        .where(*where)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await session.execute(
        base.order_by(func.lower(name), Ticket.label, Ticket.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    return [DoorTicket.model_validate(row._asdict()) for row in rows], total


async def manifest(
    session: AsyncSession,
    user: User,
    showtime_id: uuid.UUID,
    settings: Settings,
    *,
    after: uuid.UUID | None,
    limit: int,
) -> Manifest:
    """What a scanner downloads to check codes while offline: every paid or void ticket of
    the showtime, by hash of its code, in ticket id order from `after`."""
    await check_manager(session, user, showtime_id, action="see the door list")
    # The transaction's start: every change committed before it is in what follows.
    as_of = (await session.execute(select(func.now()))).scalar_one()
    query = (
        select(
            Ticket.id.label("ticket_id"),
            Ticket.unit_id,
            Ticket.code_version,
            Ticket.status,
            Ticket.section_id,
            Ticket.seat_id,
            Ticket.label,
            Ticket.checked_in_at,
        )
        .join(Booking, Booking.id == Ticket.booking_id)
        .where(
            Booking.showtime_id == showtime_id,
            Ticket.status.in_((TicketStatus.issued, TicketStatus.void)),
        )
        .order_by(Ticket.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Ticket.id > after)
    key, earlier = ticket_key(settings), previous_ticket_keys(settings)

    def code_hash(key: bytes, row: Any) -> str:
        # The code is computed, never stored: the key signs it here as on the ticket.
        code = signed_code(key, row.ticket_id, row.unit_id, row.code_version)
        return hashlib.sha256(code.encode()).hexdigest()

    items = [
        ManifestTicket(
            ticket_id=row.ticket_id,
            code_sha256=code_hash(key, row),
            earlier_code_sha256=[code_hash(old, row) for old in earlier],
            status=row.status,
            section_id=row.section_id,
            seat_id=row.seat_id,
            label=row.label,
            checked_in_at=row.checked_in_at,
        )
        for row in await session.execute(query)
    ]
    return Manifest(
        showtime_id=showtime_id,
        as_of=as_of,
        items=items,
        next_after=items[-1].ticket_id if len(items) == limit else None,
    )
