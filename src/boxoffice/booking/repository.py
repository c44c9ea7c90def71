import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from boxoffice.auth.models import User
from boxoffice.booking import reference
from boxoffice.booking.models import (
    Booking,
    BookingStatus,
    Hold,
    HoldStatus,
    Ticket,
    TicketStatus,
)
from boxoffice.catalog.models import Event, EventFeeChange, EventStatus, Showtime, ShowtimeStatus
from boxoffice.db import driver
from boxoffice.db.driver import Sql
from boxoffice.db.transaction import Db, orm
from boxoffice.inventory.claim_repository import UNIT_LABEL
from boxoffice.payment.pricing import FeePolicy


@dataclass(frozen=True, slots=True)
class UnitLine:
    unit_id: int
    section_id: uuid.UUID
    seat_id: int | None
    label: str
    price_minor: int | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class SaleWindow:
    """What deciding a sale needs of a showtime and its event, and the transaction's clock."""

    showtime_id: uuid.UUID
    showtime_status: ShowtimeStatus
    starts_at: datetime
    event_id: uuid.UUID
    organizer_id: uuid.UUID
    event_status: EventStatus
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    max_tickets_per_booking: int
    hold_ttl_seconds: int
    now: datetime
    max_tickets_per_buyer: int | None
    fees: FeePolicy
    """The event's booking fees, added to every paid order."""
    presale_starts_at: datetime | None
    presale_codes: list[str]
    fees_changed_at: datetime | None
    accessible_release_hours: int | None

    @property
    def holds_back_accessible(self) -> bool:
        """Best available keeps accessible seats for those who ask for them (until the
        event's release, so many hours before the showtime)."""
        hours = self.accessible_release_hours
        return hours is None or self.now < self.starts_at - timedelta(hours=hours)

    @classmethod
    def of(cls, showtime: Showtime, event: Event, now: datetime) -> "SaleWindow":
        return cls(
            showtime.id,
            showtime.status,
            showtime.starts_at,
            event.id,
            event.organizer_id,
            event.status,
            event.sale_starts_at,
            event.sale_ends_at,
            event.max_tickets_per_booking,
            event.hold_ttl_seconds,
            now,
            event.max_tickets_per_buyer,
            FeePolicy.of(event),
            event.presale_starts_at,
            event.presale_codes,
            event.fees_changed_at,
            event.accessible_release_hours,
        )


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: uuid.UUID
    showtime_id: uuid.UUID
    user_id: uuid.UUID
    status: HoldStatus
    quantity: int
    created_at: datetime
    expires_at: datetime
    max_expires_at: datetime
    units: tuple[UnitLine, ...] | None = None
    """The units it holds, when the statement that made it answered them."""


@dataclass(frozen=True, slots=True)
class NewTicket:
    id: uuid.UUID
    unit_id: int
    section_id: uuid.UUID
    seat_id: int | None
    label: str
    price_minor: int


@dataclass(frozen=True, slots=True)
class BookingFilters:
    user_id: uuid.UUID | None = None
    organizer_id: uuid.UUID | None = None
    """Bookings of this organizer's events (and the organizer's own)."""
    status: BookingStatus | None = None
    showtime_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    reference: str | None = None
    """The 8-character booking reference e-mails give (`booking.reference`)."""
    descending: bool = True


_LINE_COLUMNS = f"""
    SELECT u.id, u.section_id, u.seat_id, {UNIT_LABEL} AS label, pt.price_minor, pt.currency
      FROM inventory_units u
      JOIN sections sec ON sec.id = u.section_id
      LEFT JOIN seats s ON s.id = u.seat_id
      LEFT JOIN price_tiers pt ON pt.showtime_id = u.showtime_id AND pt.section_id = u.section_id
"""  # noqa: S608 (constants only)


# The statements every hold and every booking runs, in plain asyncpg (`db.driver`);
# bench/flash_sale drives these same statements directly as its ceiling.

_WINDOW_COLUMNS = """
    SELECT s.id, s.status, s.starts_at, e.id, e.organizer_id, e.status, e.sale_starts_at,
           e.sale_ends_at, e.max_tickets_per_booking, e.hold_ttl_seconds, now(),
           e.max_tickets_per_buyer, e.fee_percent_bp, e.fee_per_ticket_minor,
           e.fee_per_order_minor, e.presale_starts_at, e.presale_codes, e.fees_changed_at,
           e.accessible_release_hours
"""
WINDOW_WIDTH = 19
"""Columns of `_WINDOW_COLUMNS`: a statement's own columns follow them."""
SALE_WINDOW = Sql(
    _WINDOW_COLUMNS
    + " FROM showtimes s JOIN events e ON e.id = s.event_id WHERE s.id = :showtime_id"
)
# The sale statements are prepared once per connection, but PostgreSQL's default
# (plan_cache_mode = auto) kept planning them afresh at every execution, which cost about as
# much as running them (one connection, in a row: claim of explicit seats 0.50 -> 0.26 ms,
# creating the hold 0.97 -> 0.78 ms, the booking 0.88 -> 0.73 ms). The first statement of a
# hold and of a booking therefore switches the rest of its transaction to the cached
# generic plans (`is_local`: the setting ends with the transaction).
_GENERIC_PLANS = "set_config('plan_cache_mode', 'force_generic_plan', true)"

# Every purchase (a hold, a one-call booking, a booking of a hold, seats added) share-locks
# its showtime's row in its first statement, before it touches stock. Cancelling the
# showtime (or its event) updates that row first, so it waits for the purchases under way,
# then settles every booking they made; a purchase starting meanwhile waits, then reads the
# showtime as cancelled and is refused (`403 sales_closed`). Share locks do not block one
# another, and each purchase's insert key-share-locks the row anyway (its foreign key).
SALE_WINDOW_LOCKING_BUYER = Sql(
    _WINDOW_COLUMNS
    + f""", pg_advisory_xact_lock(hashtextextended(:buyer_key, 0)), {_GENERIC_PLANS}
      FROM showtimes s JOIN events e ON e.id = s.event_id WHERE s.id = :showtime_id
       FOR SHARE OF s"""
)
"""The window, after taking the buyer's per-showtime lock (one buyer's holds queue, no
one else's do), the showtime share-locked (see above)."""

TRY_LOCK_BUYER = Sql("SELECT pg_try_advisory_xact_lock(hashtextextended(:buyer_key, 0))")


def _buyer_key(user_id: uuid.UUID, showtime_id: uuid.UUID) -> str:
    return f"hold:{user_id}:{showtime_id}"


_INSERT_HOLD = """
    INSERT INTO holds (id, showtime_id, user_id, status, quantity, created_at, expires_at,
                       max_expires_at)
    VALUES (:id, :showtime_id, :user_id, 'active', :quantity, :created_at, :expires_at,
            :max_expires_at)
"""
INSERT_HOLD = Sql(_INSERT_HOLD)

_UNIT_LABELS = f"""
    SELECT u.hold_id, u.id, u.section_id, u.seat_id, {UNIT_LABEL}
      FROM inventory_units u
      JOIN sections sec ON sec.id = u.section_id
      LEFT JOIN seats s ON s.id = u.seat_id
"""  # noqa: S608 (constants only)

INSERT_HOLD_DESCRIBED = Sql(
    f"""
    WITH inserted AS ({_INSERT_HOLD})
    SELECT u.hold_id, u.id, u.section_id, u.seat_id, {UNIT_LABEL},
           (SELECT count(*) FROM holds h
             WHERE h.user_id = :user_id AND h.showtime_id = :showtime_id
               AND h.status = 'active' AND h.expires_at >= now())
      FROM inventory_units u
      JOIN sections sec ON sec.id = u.section_id
      LEFT JOIN seats s ON s.id = u.seat_id
     WHERE u.hold_id = :id AND u.state = 'held' AND u.booking_id IS NULL
     ORDER BY u.id
    """  # noqa: S608 (constants only)
)
"""Insert the hold; answer its units (claimed by the previous statement) with labels, and
how many other live holds the buyer has on the showtime. Runs after the buyer's lock was
taken (`SALE_WINDOW_LOCKING_BUYER`), so the count sees every hold of theirs that committed
before. (Their lapsed holds are the sweeper's to end: it frees their units with them.)"""

BUYER_LIVE_UNITS = Sql(
    """
    SELECT (SELECT coalesce(sum(quantity), 0) FROM holds
             WHERE user_id = :user_id AND showtime_id = :showtime_id
               AND status = 'active' AND expires_at >= now())
         + (SELECT count(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id
             WHERE b.user_id = :user_id AND b.showtime_id = :showtime_id
               AND t.status IN ('pending', 'issued')
               AND (b.status = 'confirmed'
                    OR (b.status = 'pending_payment' AND b.expires_at >= now())))
    """
)
"""Places a buyer has on a showtime: in live holds, and as live tickets of bookings that are
paid or still inside their payment window. For the per-buyer limit, under the buyer's lock."""

HOLD_UNITS = Sql(
    _UNIT_LABELS + " WHERE u.hold_id = ANY(:hold_ids) AND u.state = 'held' AND u.booking_id IS NULL"
    " ORDER BY u.id"
)

LOCK_HOLD_IN_WINDOW = Sql(
    _WINDOW_COLUMNS
    + f""", h.id, h.showtime_id, h.user_id, h.status, h.quantity, h.created_at, h.expires_at,
           h.max_expires_at, {_GENERIC_PLANS}
      FROM holds h
      JOIN showtimes s ON s.id = h.showtime_id
      JOIN events e ON e.id = s.event_id
     WHERE h.id = :hold_id
       FOR SHARE OF s FOR NO KEY UPDATE OF h"""
)
"""A hold, locked, with its showtime's sale window, the showtime share-locked (making a
booking of it; see `SALE_WINDOW_LOCKING_BUYER`). The showtime first: PostgreSQL locks a
row's tables in the order the locking clauses name them, and a cancel, having updated the
showtime, locks its holds; a booking holding the hold while it waits for the showtime
would deadlock with it."""

_INSERT_BOOKING = """
    INSERT INTO bookings (id, user_id, showtime_id, event_id, hold_id, status, quantity,
                          total_minor, currency, expires_at, version, complimentary, metadata)
    VALUES (:id, :user_id, :showtime_id, :event_id, :hold_id, 'pending_payment', :quantity,
            :total_minor, :currency, :expires_at, 1, false, :meta)
    RETURNING created_at
"""
_INSERT_TICKETS = """
    INSERT INTO tickets (id, booking_id, unit_id, section_id, seat_id, label, price_minor,
                         currency, status)
    SELECT t.id, :id, t.unit_id, t.section_id, t.seat_id, t.label, t.price_minor,
           :currency, 'pending'
      FROM unnest(CAST(:ticket_ids AS uuid[]), CAST(:unit_ids AS bigint[]),
                  CAST(:section_ids AS uuid[]), CAST(:seat_ids AS bigint[]),
                  CAST(:labels AS text[]), CAST(:prices AS bigint[]))
           AS t(id, unit_id, section_id, seat_id, label, price_minor)
"""
_CONVERT_HOLD = "UPDATE holds SET status = 'converted', ended_at = now() WHERE id = :hold_id"

_SALE = "WITH booking AS ({}), tickets AS ({}), hold AS ({}) SELECT created_at FROM booking"
INSERT_SALE = Sql(_SALE.format(_INSERT_BOOKING, _INSERT_TICKETS, _CONVERT_HOLD))
"""The pending booking, its tickets and the hold marked converted, in one statement."""

REPRICE_SALE = Sql(
    """
    WITH tickets AS (
        UPDATE tickets t SET price_minor = p.price_minor
          FROM unnest(CAST(:ticket_ids AS uuid[]), CAST(:prices AS bigint[]))
               AS p(id, price_minor)
         WHERE t.id = p.id
    )
    UPDATE bookings SET total_minor = :total_minor, metadata = :meta WHERE id = :id
    """
)
"""A coupon's discount applied to a booking made by `INSERT_SALE` and to its tickets."""


def _window(row: Any) -> SaleWindow:
    """A `SaleWindow` from the first columns of a row that starts with `_WINDOW_COLUMNS`."""
    return SaleWindow(
        row[0],
        ShowtimeStatus(row[1]),
        row[2],
        row[3],
        row[4],
        EventStatus(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        FeePolicy(row[12], row[13], row[14]),
        row[15],
        row[16],
        row[17],
        row[18],
    )


def _ticket_columns(tickets: Sequence[NewTicket]) -> dict[str, list[Any]]:
    return {
        "ticket_ids": [t.id for t in tickets],
        "unit_ids": [t.unit_id for t in tickets],
        "section_ids": [t.section_id for t in tickets],
        "seat_ids": [t.seat_id for t in tickets],
        "labels": [t.label for t in tickets],
        "prices": [t.price_minor for t in tickets],
    }


class BookingRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    @property
    def session(self) -> AsyncSession:
        """The ORM session (of a request's `Tx`: made on first use)."""
        return orm(self.db)

    async def fees_at(self, event_id: uuid.UUID, moment: datetime) -> FeePolicy | None:
        """The event's fees as they were at `moment`, if they changed since (else None)."""
        row = (
            await self.session.execute(
                select(
                    EventFeeChange.previous_fee_percent_bp,
                    EventFeeChange.previous_fee_per_ticket_minor,
                    EventFeeChange.previous_fee_per_order_minor,
                )
                .where(EventFeeChange.event_id == event_id, EventFeeChange.changed_at > moment)
                .order_by(EventFeeChange.changed_at, EventFeeChange.id)
                .limit(1)
            )
        ).first()
        return None if row is None else FeePolicy(row[0], row[1], row[2])

    async def showtime_with_event(self, showtime_id: uuid.UUID) -> tuple[Showtime, Event] | None:
        row = (
            await self.session.execute(
                select(Showtime, Event)
                .join(Event, Event.id == Showtime.event_id)
                .where(Showtime.id == showtime_id)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def showtime_event_now(
        self, showtime_id: uuid.UUID, *, share_lock: bool = False
    ) -> tuple[Showtime, Event, datetime] | None:
        """The showtime, its event and the transaction's clock, in one round trip; with
        `share_lock`, the showtime's row share-locked as a purchase locks it."""
        query = (
            select(Showtime, Event, func.now())
            .join(Event, Event.id == Showtime.event_id)
            .where(Showtime.id == showtime_id)
        )
        if share_lock:
            query = query.with_for_update(read=True, of=Showtime).execution_options(
                populate_existing=True
            )
        row = (await self.session.execute(query)).first()
        return None if row is None else (row[0], row[1], row[2])

    async def showtimes_on_sale(self, event_id: uuid.UUID) -> Sequence[uuid.UUID]:
        return (
            await self.session.scalars(
                select(Showtime.id).where(
                    Showtime.event_id == event_id,
                    Showtime.status == "scheduled",
                    Showtime.starts_at > func.now(),
                )
            )
        ).all()

    async def sale_window(
        self, showtime_id: uuid.UUID, *, lock_buyer: uuid.UUID | None = None
    ) -> SaleWindow | None:
        """The showtime's sale window and the clock; with `lock_buyer`, that buyer's hold
        requests for the showtime are serialised from here to the end of the transaction."""
        if lock_buyer is None:
            row = await driver.fetchrow(self.db, SALE_WINDOW, {"showtime_id": showtime_id})
        else:
            row = await driver.fetchrow(
                self.db,
                SALE_WINDOW_LOCKING_BUYER,
                {"showtime_id": showtime_id, "buyer_key": _buyer_key(lock_buyer, showtime_id)},
            )
        return None if row is None else _window(row)

    async def try_lock_buyer(self, user_id: uuid.UUID, showtime_id: uuid.UUID) -> bool:
        """The buyer's per-showtime lock (what `sale_window(lock_buyer=...)` takes), if no
        request of theirs holds it now; False at once otherwise, never waiting."""
        return bool(
            await driver.fetchval(
                self.db, TRY_LOCK_BUYER, {"buyer_key": _buyer_key(user_id, showtime_id)}
            )
        )

    async def buyer_live_units(self, user_id: uuid.UUID, showtime_id: uuid.UUID) -> int:
        return int(
            await driver.fetchval(
                self.db, BUYER_LIVE_UNITS, {"user_id": user_id, "showtime_id": showtime_id}
            )
        )

    async def insert_hold(self, hold: HoldRow) -> tuple[list[UnitLine], int]:
        """Insert the hold; answers the units it holds (claimed just before), labelled, and
        the number of the buyer's other live holds on the showtime."""
        rows = await driver.fetch(
            self.db,
            INSERT_HOLD_DESCRIBED,
            {
                "id": hold.id,
                "showtime_id": hold.showtime_id,
                "user_id": hold.user_id,
                "quantity": hold.quantity,
                "created_at": hold.created_at,
                "expires_at": hold.expires_at,
                "max_expires_at": hold.max_expires_at,
            },
        )
        others = int(rows[0][5]) if rows else 0
        return [UnitLine(r[1], r[2], r[3], r[4], None, None) for r in rows], others

    async def hold_in_window(self, hold_id: uuid.UUID) -> tuple[HoldRow, SaleWindow] | None:
        """The hold, locked for this transaction, and its showtime's sale window."""
        row = await driver.fetchrow(self.db, LOCK_HOLD_IN_WINDOW, {"hold_id": hold_id})
        if row is None:
            return None
        h = row[WINDOW_WIDTH:]
        hold = HoldRow(h[0], h[1], h[2], HoldStatus(h[3]), h[4], h[5], h[6], h[7])
        return hold, _window(row)

    async def insert_sale(self, booking: dict[str, Any], tickets: Sequence[NewTicket]) -> datetime:
        """The pending booking (`booking` holds its columns), its tickets, and its hold
        marked converted; returns the booking's `created_at`."""
        row = await driver.fetchrow(self.db, INSERT_SALE, {**booking, **_ticket_columns(tickets)})
        created_at: datetime = row[0]
        return created_at

    async def reprice_sale(
        self, booking_id: uuid.UUID, total_minor: int, meta: str, tickets: Sequence[NewTicket]
    ) -> None:
        await driver.execute(
            self.db,
            REPRICE_SALE,
            {
                "id": booking_id,
                "total_minor": total_minor,
                "meta": meta,
                "ticket_ids": [t.id for t in tickets],
                "prices": [t.price_minor for t in tickets],
            },
        )

    async def add(self, obj: Any) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def get_hold(self, hold_id: uuid.UUID, *, lock: bool = False) -> Hold | None:
        query = select(Hold).where(Hold.id == hold_id)
        if lock:
            query = query.with_for_update(key_share=True)
        return (await self.session.scalars(query)).first()

    async def lock_holds(self, hold_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, HoldStatus]:
        """Lock these holds' rows (as `get_hold(lock=True)` does), in id order; answers
        their status once locked."""
        if not hold_ids:
            return {}
        rows = await self.session.execute(
            select(Hold.id, Hold.status)
            .where(Hold.id.in_(hold_ids))
            .order_by(Hold.id)
            .with_for_update(key_share=True)
        )
        return {row[0]: row[1] for row in rows}

    async def lock_active_holds(self, showtime_ids: Sequence[uuid.UUID]) -> Sequence[Hold]:
        """The showtimes' active holds (lapsed ones too), locked in id order; a hold that
        ended while this waited for it is left out."""
        return (
            await self.session.scalars(
                select(Hold)
                .where(Hold.showtime_id.in_(showtime_ids), Hold.status == HoldStatus.active)
                .order_by(Hold.id)
                .with_for_update(key_share=True)
                .execution_options(populate_existing=True)
            )
        ).all()

    async def live_holds(self, user_id: uuid.UUID, showtime_id: uuid.UUID | None) -> Sequence[Hold]:
        query = select(Hold).where(
            Hold.user_id == user_id,
            Hold.status == HoldStatus.active,
            Hold.expires_at >= func.now(),
        )
        if showtime_id is not None:
            query = query.where(Hold.showtime_id == showtime_id)
        return (await self.session.scalars(query.order_by(Hold.created_at))).all()

    async def hold_units(self, hold_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[UnitLine]]:
        rows = await driver.fetch(self.db, HOLD_UNITS, {"hold_ids": list(hold_ids)})
        lines: dict[uuid.UUID, list[UnitLine]] = {h: [] for h in hold_ids}
        for hold_id, unit_id, section_id, seat_id, label in rows:
            lines[hold_id].append(UnitLine(unit_id, section_id, seat_id, label, None, None))
        return lines

    async def priced_units_by_id(self, unit_ids: Sequence[int]) -> list[UnitLine]:
        result = await self.session.execute(
            text(_LINE_COLUMNS + " WHERE u.id = ANY(:ids) ORDER BY u.id"), {"ids": list(unit_ids)}
        )
        return [UnitLine(*row) for row in result]

    async def end_hold(self, hold: Hold, status: HoldStatus) -> None:
        hold.status = status
        hold.ended_at = func.now()
        await self.session.flush()

    async def get_booking(self, booking_id: uuid.UUID, *, lock: bool = False) -> Booking | None:
        return await self.session.get(
            Booking,
            booking_id,
            populate_existing=True,
            with_for_update={"key_share": True} if lock else None,
        )

    async def tickets(self, booking_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Ticket]]:
        rows = (
            await self.session.scalars(
                select(Ticket)
                .where(Ticket.booking_id.in_(booking_ids))
                .order_by(Ticket.label)
                .execution_options(populate_existing=True)
            )
        ).all()
        found: dict[uuid.UUID, list[Ticket]] = {b: [] for b in booking_ids}
        for ticket in rows:
            found[ticket.booking_id].append(ticket)
        return found

    async def transition(
        self,
        booking_id: uuid.UUID,
        *,
        version: int,
        from_statuses: Sequence[BookingStatus],
        values: dict[str, Any],
    ) -> bool:
        """Compare-and-set: change the booking only if it still has `version` and a status
        in `from_statuses`; bumps the version."""
        result = await self.session.execute(
            update(Booking)
            .where(
                Booking.id == booking_id,
                Booking.version == version,
                Booking.status.in_(from_statuses),
            )
            .values(version=Booking.version + 1, updated_at=func.now(), **values)
            .returning(Booking.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def set_ticket_status(
        self,
        booking_id: uuid.UUID,
        status: TicketStatus,
        *,
        only: TicketStatus | None = None,
        ticket_ids: Sequence[uuid.UUID] | None = None,
    ) -> None:
        query = update(Ticket).where(Ticket.booking_id == booking_id)
        if only is not None:
            query = query.where(Ticket.status == only)
        if ticket_ids is not None:
            query = query.where(Ticket.id.in_(ticket_ids))
        await self.session.execute(
            query.values(status=status).execution_options(synchronize_session=False)
        )

    def _filtered(self, query: Select[Any], filters: BookingFilters) -> Select[Any]:
        if filters.user_id is not None:
            query = query.where(Booking.user_id == filters.user_id)
        if filters.organizer_id is not None:
            query = query.join(Event, Event.id == Booking.event_id).where(
                or_(
                    Event.organizer_id == filters.organizer_id,
                    Booking.user_id == filters.organizer_id,
                )
            )
        if filters.status is not None:
            query = query.where(Booking.status == filters.status)
        if filters.showtime_id is not None:
            query = query.where(Booking.showtime_id == filters.showtime_id)
        if filters.event_id is not None:
            query = query.where(Booking.event_id == filters.event_id)
        if filters.reference is not None:
            low, high = reference.bounds(filters.reference)
            query = query.where(Booking.id.between(low, high))
        return query

    async def export_rows(
        self, filters: BookingFilters, batch: int = 500
    ) -> AsyncIterator[Sequence[Any]]:
        """One row per ticket (or per booking without tickets) of the filtered bookings,
        with the buyer, whom a ticket was given to and the showtime's start, oldest first;
        read through a server-side cursor, `batch` rows at a time, so that a sold-out
        showtime's export neither holds every row at once nor keeps the event loop for
        the whole read."""
        buyer, holder = aliased(User), aliased(User)
        columns: Select[Any] = cast(
            Select[Any],
            select(
                Booking.id.label("booking_id"),
                Booking.status.label("booking_status"),
                Booking.created_at,
                Booking.confirmed_at,
                Booking.cancelled_at,
                Booking.event_id,
                Booking.showtime_id,
                Showtime.starts_at.label("showtime_starts_at"),
                buyer.full_name.label("buyer_name"),
                buyer.email.label("buyer_email"),
                Booking.total_minor.label("booking_total_minor"),
                # Of the total, the event's booking fees (in the pricing statement).
                func.coalesce(Booking.meta["pricing"]["fees_minor"].as_integer(), 0).label(
                    "booking_fees_minor"
                ),
                Booking.currency,
                Ticket.id.label("ticket_id"),
                Ticket.label.label("ticket_label"),
                Ticket.price_minor.label("ticket_price_minor"),
                Ticket.status.label("ticket_status"),
                Ticket.checked_in_at,
                holder.full_name.label("holder_name"),
                holder.email.label("holder_email"),
            ),
        )
        query = (
            self._filtered(columns, filters)
            .join(Showtime, Showtime.id == Booking.showtime_id)
            .join(buyer, buyer.id == Booking.user_id)
            .outerjoin(Ticket, Ticket.booking_id == Booking.id)
            .outerjoin(holder, holder.id == Ticket.holder_id)
            .order_by(Booking.created_at, Booking.id, Ticket.label)
            .execution_options(yield_per=batch)
        )
        result = await self.session.stream(query)
        async for rows in result.partitions(batch):
            yield rows

    async def list_bookings(
        self, filters: BookingFilters, limit: int, offset: int
    ) -> tuple[Sequence[Booking], int]:
        total = await self.session.scalar(self._filtered(select(func.count(Booking.id)), filters))
        order = Booking.created_at.desc() if filters.descending else Booking.created_at.asc()
        rows = (
            await self.session.scalars(
                self._filtered(select(Booking), filters)
                .order_by(order, Booking.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
        return rows, int(total or 0)

    async def lapsed_holds(self, batch: int) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        result = await self.session.execute(
            text(
                """
                UPDATE holds SET status = 'expired', ended_at = now()
                 WHERE id IN (SELECT id FROM holds
                               WHERE status = 'active' AND expires_at < now()
                               ORDER BY expires_at LIMIT :batch FOR UPDATE SKIP LOCKED)
                RETURNING id, showtime_id
                """
            ),
            {"batch": batch},
        )
        return [(r[0], r[1]) for r in result]

    async def lapsed_bookings(self, batch: int) -> Sequence[uuid.UUID]:
        result = await self.session.execute(
            text(
                """
                SELECT id FROM bookings
                 WHERE status = 'pending_payment' AND expires_at < now()
                 ORDER BY expires_at LIMIT :batch FOR UPDATE SKIP LOCKED
                """
            ),
            {"batch": batch},
        )
        return [r[0] for r in result]

    async def user_exists(self, user_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(
                text("SELECT EXISTS (SELECT 1 FROM users WHERE id = :id)"), {"id": user_id}
            )
        )

    async def now(self) -> datetime:
        value: datetime = await self.session.scalar(text("SELECT now()"))
        return value
