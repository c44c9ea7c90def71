"""Joining, leaving, offering returned units to waiting buyers, passing lapsed offers on.

An offer is a real hold (the `holds` table, units claimed through `inventory`), owned by
the waiting buyer and lapsing at `offer_expires_at`; the buyer accepts it by booking the
hold (`POST /api/bookings/create`).
"""

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import structlog
from sqlalchemy import func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.booking import holds
from boxoffice.booking.errors import SalesClosed
from boxoffice.booking.models import Hold, HoldStatus
from boxoffice.booking.repository import BookingRepository, SaleWindow
from boxoffice.booking.schemas import HoldCreate
from boxoffice.catalog.models import Event, Showtime
from boxoffice.config import WaitlistSettings
from boxoffice.inventory import claim_service
from boxoffice.inventory.claim_repository import CLAIMABLE
from boxoffice.inventory.errors import SeatsUnavailable, ShowtimeNotFound, SoldOut
from boxoffice.kit.errors import BoxofficeError
from boxoffice.kit.outbox import Topic, emit
from boxoffice.waitlist import errors
from boxoffice.waitlist.models import OPEN, EntryStatus, WaitlistEntry
from boxoffice.waitlist.schemas import EntryCreate, EntryOut, WaitlistSummary

log = structlog.get_logger(__name__)


async def join(session: AsyncSession, user: User, data: EntryCreate) -> WaitlistEntry:
    """Queue the buyer for `quantity` units; joining twice returns the open entry."""
    repo = BookingRepository(session)
    window = await holds.resolve_showtime(repo, data.showtime_id, data.event_id)
    holds.check_on_sale(window)
    stmt = (
        insert(WaitlistEntry)
        .values(
            id=uuid.uuid4(),
            showtime_id=window.showtime_id,
            user_id=user.id,
            quantity=min(
                data.quantity,
                window.max_tickets_per_booking,
                window.max_tickets_per_buyer or data.quantity,
            ),
            accessible=data.accessible,
            status=EntryStatus.waiting,
            offers_made=0,
            # The wall clock, not the transaction's: FIFO holds within one transaction too.
            created_at=func.clock_timestamp(),
        )
        .on_conflict_do_nothing(
            index_elements=["user_id", "showtime_id"],
            index_where=text("status IN ('waiting', 'offered')"),
        )
        .returning(WaitlistEntry.id)
    )
    entry_id = (await session.execute(stmt)).scalar_one_or_none()
    if entry_id is None:
        entry = await session.scalar(
            select(WaitlistEntry).where(
                WaitlistEntry.user_id == user.id,
                WaitlistEntry.showtime_id == window.showtime_id,
                WaitlistEntry.status.in_(OPEN),
            )
        )
        if entry is None:
            raise errors.EntryClosed("Try again: your entry changed meanwhile")
        return entry
    return await session.get_one(WaitlistEntry, entry_id)


async def join_after_refusal(
    session: AsyncSession, user: User, data: EntryCreate
) -> WaitlistEntry | None:
    """Join after a sold-out answer, in a savepoint: None when joining is not possible."""
    try:
        async with session.begin_nested():
            return await join(session, user, data)
    except BoxofficeError:
        return None


async def own_entry(session: AsyncSession, user: User, entry_id: uuid.UUID) -> WaitlistEntry:
    entry = await session.get(WaitlistEntry, entry_id, populate_existing=True)
    if entry is None or entry.user_id != user.id:
        raise errors.EntryNotFound()
    return entry


async def my_entries(session: AsyncSession, user: User) -> list[WaitlistEntry]:
    return list(
        (
            await session.scalars(
                select(WaitlistEntry)
                .where(WaitlistEntry.user_id == user.id)
                .order_by(WaitlistEntry.created_at.desc(), WaitlistEntry.id)
            )
        ).all()
    )


async def leave(session: AsyncSession, user: User, entry_id: uuid.UUID) -> WaitlistEntry:
    """Leave the waitlist; an open offer's hold is released at once."""
    await own_entry(session, user, entry_id)
    entry = await session.get_one(
        WaitlistEntry, entry_id, with_for_update={"key_share": True}, populate_existing=True
    )
    if entry.status not in OPEN:
        raise errors.EntryClosed()
    if entry.status is EntryStatus.offered and entry.hold_id is not None:
        await _release_offer_hold(session, entry, HoldStatus.released)
    entry.status = EntryStatus.left
    await session.flush()
    return entry


async def _release_offer_hold(
    session: AsyncSession, entry: WaitlistEntry, status: HoldStatus
) -> None:
    if entry.hold_id is None:
        return
    repo = BookingRepository(session)
    hold = await repo.get_hold(entry.hold_id, lock=True)
    if hold is None or hold.status is not HoldStatus.active:
        return
    released = await claim_service.release_hold_units(session, hold.showtime_id, hold.id)
    await repo.end_hold(hold, status)
    await claim_service.units_released(session, hold.showtime_id, released, "waitlist")


async def present(session: AsyncSession, entries: list[WaitlistEntry]) -> list[EntryOut]:
    """Entries with their place in the queue (waiting ones)."""
    out = []
    for e in entries:
        position = None
        if e.status is EntryStatus.waiting:
            ahead = await session.scalar(
                select(func.count())
                .select_from(WaitlistEntry)
                .where(
                    WaitlistEntry.showtime_id == e.showtime_id,
                    WaitlistEntry.status == EntryStatus.waiting,
                    tuple_(WaitlistEntry.created_at, WaitlistEntry.id)
                    < tuple_(literal(e.created_at), literal(e.id)),
                )
            )
            position = 1 + int(ahead or 0)
        item = EntryOut.model_validate(e)
        item.position = position
        if e.status is not EntryStatus.offered:
            item.hold_id = None
        out.append(item)
    return out


async def summary(session: AsyncSession, user: User, showtime_id: uuid.UUID) -> WaitlistSummary:
    """Demand on one showtime, for its event's organizer (or anyone managing any event)."""
    organizer_id = await session.scalar(
        select(Event.organizer_id)
        .join(Showtime, Showtime.event_id == Event.id)
        .where(Showtime.id == showtime_id)
    )
    if organizer_id is None or (
        organizer_id != user.id and not has_permission(user.role, Permission.event_manage_any)
    ):
        raise ShowtimeNotFound()
    row = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE status = 'waiting'),"
                " coalesce(sum(quantity) FILTER (WHERE status = 'waiting'), 0),"
                " count(*) FILTER (WHERE status = 'offered'),"
                " coalesce(sum(quantity) FILTER (WHERE status = 'offered'), 0),"
                " coalesce(sum(quantity) FILTER (WHERE status = 'waiting' AND accessible), 0)"
                " FROM waitlist_entries"
                " WHERE showtime_id = :id AND status IN ('waiting', 'offered')"
            ),
            {"id": showtime_id},
        )
    ).one()
    return WaitlistSummary(
        showtime_id=showtime_id,
        entries_waiting=row[0],
        quantity_waiting=row[1],
        offers_open=row[2],
        quantity_offered=row[3],
        accessible_quantity_waiting=row[4],
    )


async def close_for_cancelled(
    session: AsyncSession, showtime_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """The showtimes were cancelled: their open entries close (`cancelled`), before any of
    their holds is locked (settling and leaving lock an entry, then its offer's hold). The
    offers' holds are released with the showtimes' other holds (`holds.end_for_cancelled`).
    Answers the entries' buyers."""
    if not showtime_ids:
        return []
    result = await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.showtime_id.in_(showtime_ids), WaitlistEntry.status.in_(OPEN))
        .values(status=EntryStatus.cancelled)
        .returning(WaitlistEntry.user_id)
        .execution_options(synchronize_session=False)
    )
    return list(dict.fromkeys(result.scalars()))


# ---- the worker's side ----------------------------------------------------------------

_CLAIMABLE_COUNT = text(
    f"SELECT count(*) FROM inventory_units u WHERE u.showtime_id = :id AND {CLAIMABLE}"  # noqa: S608
)

_SALES_ENDED = "(s.starts_at <= now() OR coalesce(ev.sale_ends_at < now(), false))"
"""Of a showtime `s` of event `ev`: nothing more can be bought or offered (never NULL);
`booking.holds.check_on_sale`'s "Sales have ended", to the instant."""

_WAITING_WITH_UNITS = text(
    f"""
    SELECT DISTINCT w.showtime_id FROM waitlist_entries w
      JOIN showtimes s ON s.id = w.showtime_id
      JOIN events ev ON ev.id = s.event_id
     WHERE w.status = 'waiting'
       AND s.status = 'scheduled' AND ev.status = 'published' AND NOT {_SALES_ENDED}
       AND EXISTS (SELECT 1 FROM inventory_units u
                    WHERE u.showtime_id = w.showtime_id AND {CLAIMABLE})
    """  # noqa: S608
)


_CLOSE_PAST = text(
    f"""
    WITH closed AS (
         UPDATE waitlist_entries SET status = 'closed', updated_at = now()
          WHERE id IN (
                SELECT w.id FROM waitlist_entries w
                  JOIN showtimes s ON s.id = w.showtime_id
                  JOIN events ev ON ev.id = s.event_id
                 WHERE w.status = 'waiting' AND {_SALES_ENDED}
                 LIMIT :batch
                   FOR UPDATE OF w SKIP LOCKED)
         RETURNING id, user_id, showtime_id, quantity, hold_id)
    SELECT c.id, c.user_id, c.showtime_id, c.quantity, c.hold_id,
           ev.id AS event_id, ev.title AS event_title
      FROM closed c JOIN showtimes s ON s.id = c.showtime_id JOIN events ev ON ev.id = s.event_id
    """  # noqa: S608 (constants)
)


async def close_past(session: AsyncSession, batch: int) -> int:
    """Entries still waiting when their showtime's sales ended (it started, or its event's
    sale closed) close, and their buyers are told (`waitlist.closed`): nothing will be
    offered any more. An entry an offer run has locked right now is left for the next run
    (this transaction may hold version rows such a run needs: waiting for it could
    deadlock). Open offers lapse and settle as usual (`settle_offers`)."""
    rows = (await session.execute(_CLOSE_PAST, {"batch": batch})).all()
    for row in rows:
        await _tell(session, Topic.waitlist_closed, row, row.event_id, row.event_title)
    return len(rows)


class _EntryFacts(Protocol):
    """What an entry's events say of it: a `WaitlistEntry`, or a row with these columns."""

    id: uuid.UUID
    user_id: uuid.UUID
    showtime_id: uuid.UUID
    quantity: int
    hold_id: uuid.UUID | None


async def _tell(
    session: AsyncSession, topic: Topic, entry: _EntryFacts, event_id: uuid.UUID, title: str
) -> None:
    """An entry's offer lapsed (`waitlist.offer_expired`), or sales ended with it waiting or
    its offer unbooked (`waitlist.closed`): the same facts, for its buyer's notice."""
    await emit(
        session,
        topic,
        entry.id,
        {
            "entry_id": str(entry.id),
            "user_id": str(entry.user_id),
            "showtime_id": str(entry.showtime_id),
            "event_id": str(event_id),
            "event_title": title,
            "quantity": entry.quantity,
            "hold_id": str(entry.hold_id) if entry.hold_id else None,
        },
    )


async def showtimes_to_offer(session: AsyncSession) -> list[uuid.UUID]:
    """Showtimes still selling, with waiting entries and units free to offer (each gets its
    own run, which checks the sale window exactly). A showtime past its start or its sale's
    end keeps its waiting entries but gets no more runs."""
    return list((await session.scalars(_WAITING_WITH_UNITS)).all())


async def offer_released_units(
    session: AsyncSession, settings: WaitlistSettings, showtime_id: uuid.UUID
) -> int:
    """Offer the showtime's free units to its waiting entries, first come first served.

    The showtime's row is share-locked first, as a purchase does (`SALE_WINDOW_LOCKING_BUYER`):
    a cancel waits for this run and then closes the offers it made, and a run that starts
    while a cancel is under way waits for it and then makes none. One showtime a transaction:
    an event's cancel updates its showtimes in no set order, so a run locking two could
    deadlock with it.

    Entries are locked `FOR UPDATE SKIP LOCKED` and units are claimed through inventory's
    all-or-nothing claims, so concurrent workers never offer one entry or one unit twice.
    An entry that wants more than is free is passed over for smaller ones behind it.
    """
    repo = BookingRepository(session)
    found = await repo.showtime_event_now(showtime_id, share_lock=True)
    if found is None:
        return 0
    showtime, event, now = found
    window = SaleWindow.of(showtime, event, now)
    try:
        holds.check_on_sale(window)
    except SalesClosed:
        return 0
    free = int(await session.scalar(_CLAIMABLE_COUNT, {"id": showtime_id}) or 0)
    if free == 0:
        return 0
    entries = (
        await session.scalars(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.showtime_id == showtime_id,
                WaitlistEntry.status == EntryStatus.waiting,
                # A deactivated account keeps its place but is offered nothing until it
                # is reactivated (a deleted one left its waitlists).
                select(User.id).where(User.id == WaitlistEntry.user_id, User.is_active).exists(),
            )
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
            .limit(settings.offer_batch)
            .with_for_update(skip_locked=True)
        )
    ).all()
    offered = 0
    expires_at = now + timedelta(seconds=settings.offer_ttl_seconds)
    for entry in entries:
        if entry.quantity > free:
            continue
        if event.max_tickets_per_buyer is not None:
            # As a hold of the buyer's own would: under their lock, within the limit. A
            # buyer who has bought their fill since joining is passed over. A buyer whose
            # own request holds the lock right now waits for the next run: waiting here,
            # with this run's claimed units locked, could deadlock with that request.
            if not await repo.try_lock_buyer(entry.user_id, showtime_id):
                continue
            live = await repo.buyer_live_units(entry.user_id, showtime_id)
            if live + entry.quantity > event.max_tickets_per_buyer:
                continue
        hold = Hold(
            id=uuid.uuid4(),
            showtime_id=showtime_id,
            user_id=entry.user_id,
            status=HoldStatus.active,
            quantity=entry.quantity,
            created_at=now,
            expires_at=expires_at,
            max_expires_at=expires_at,
        )
        request = HoldCreate(
            showtime_id=showtime_id,
            quantity=entry.quantity,
            allow_split=True,
            accessible=entry.accessible,
        )
        try:
            units = await holds.claim(
                session, hold, request, hold_back_accessible=window.holds_back_accessible
            )
        except (SoldOut, SeatsUnavailable):
            continue
        await repo.add(hold)
        entry.status = EntryStatus.offered
        entry.hold_id = hold.id
        entry.offered_at = now
        entry.offer_expires_at = expires_at
        entry.offers_made += 1
        await session.flush()
        await emit(
            session,
            Topic.waitlist_offer_made,
            entry.id,
            {
                "entry_id": str(entry.id),
                "user_id": str(entry.user_id),
                "showtime_id": str(showtime_id),
                "event_id": str(event.id),
                "event_title": event.title,
                "quantity": entry.quantity,
                "hold_id": str(hold.id),
                "unit_ids": units,
                "offer_expires_at": expires_at.isoformat(),
            },
        )
        free -= len(units)
        offered += 1
        log.info("waitlist_offer_made", entry_id=str(entry.id), showtime_id=str(showtime_id))
        if free <= 0:
            break
    return offered


_SETTLE = text(
    f"""
    SELECT e.id, h.status, h.id, ev.id, ev.title, {_SALES_ENDED}
      FROM waitlist_entries e LEFT JOIN holds h ON h.id = e.hold_id
      JOIN showtimes s ON s.id = e.showtime_id JOIN events ev ON ev.id = s.event_id
     WHERE e.status = 'offered'
       AND (e.offer_expires_at < now() OR h.status IS DISTINCT FROM 'active' OR {_SALES_ENDED})
     ORDER BY e.offer_expires_at
     LIMIT :batch
     FOR UPDATE OF e SKIP LOCKED
    """  # noqa: S608 (constants)
)


async def settle_offers(session: AsyncSession, settings: WaitlistSettings) -> tuple[int, int]:
    """Booked offers become `accepted`; lapsed or released ones `expired` (hold released),
    and so do offers still open when their showtime's sales end (its buyer is told the
    waitlist closed: nobody is next in line).

    Returns (accepted, expired). Released units go to the next entries on the next offer run.
    """
    rows = (await session.execute(_SETTLE, {"batch": settings.offer_batch})).all()
    # The holds to release, then their units, are locked before the first is released, as
    # the sweeper does (`booking.service.sweep`): buyers may be claiming those units now.
    # A hold its buyer booked while this waited for its lock reads as converted.
    releasing = [
        hold_id
        for _, hold_status, hold_id, *_ in rows
        if hold_id is not None and hold_status != HoldStatus.converted.value
    ]
    locked = await BookingRepository(session).lock_holds(releasing)
    await claim_service.lock_claimable_units(session, hold_ids=releasing)
    accepted = expired = 0
    for entry_id, hold_status, hold_id, event_id, event_title, sales_ended in rows:
        entry = await session.get_one(WaitlistEntry, entry_id, populate_existing=True)
        if locked.get(hold_id, hold_status) == HoldStatus.converted:
            entry.status = EntryStatus.accepted
            accepted += 1
            continue
        if entry.hold_id is not None:
            await _release_offer_hold(session, entry, HoldStatus.expired)
        entry.status = EntryStatus.expired
        expired += 1
        await session.flush()
        # Sales over: nobody is next in line, the waitlist is closed.
        topic = Topic.waitlist_closed if sales_ended else Topic.waitlist_offer_expired
        await _tell(session, topic, entry, event_id, event_title)
    await session.flush()
    return accepted, expired
