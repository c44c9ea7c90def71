import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.booking.models import (
    Booking,
    BookingStatus,
    Hold,
    HoldStatus,
    Ticket,
    TicketStatus,
)
from boxoffice.catalog.models import Event, Showtime


@dataclass(frozen=True, slots=True)
class UnitLine:
    unit_id: int
    section_id: uuid.UUID
    seat_id: int | None
    label: str
    price_minor: int | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class BookingFilters:
    user_id: uuid.UUID | None = None
    organizer_id: uuid.UUID | None = None
    """Bookings of this organizer's events (and the organizer's own)."""
    status: BookingStatus | None = None
    showtime_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    descending: bool = True


_LINE_COLUMNS = """
    SELECT u.id, u.section_id, u.seat_id,
           CASE WHEN s.id IS NULL THEN sec.name
                ELSE sec.name || ' ' || s.row_label || '-' || s.number END AS label,
           pt.price_minor, pt.currency
      FROM inventory_units u
      JOIN sections sec ON sec.id = u.section_id
      LEFT JOIN seats s ON s.id = u.seat_id
      LEFT JOIN price_tiers pt ON pt.showtime_id = u.showtime_id AND pt.section_id = u.section_id
"""

_UNIT_LINES = text(
    _LINE_COLUMNS
    + """
     WHERE u.hold_id = :hold_id AND u.state = 'held' AND u.booking_id IS NULL
       AND u.held_until >= now()
     ORDER BY u.id
    """
)


class BookingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
        self, showtime_id: uuid.UUID
    ) -> tuple[Showtime, Event, datetime] | None:
        """The showtime, its event and the transaction's clock, in one round trip."""
        row = (
            await self.session.execute(
                select(Showtime, Event, func.now())
                .join(Event, Event.id == Showtime.event_id)
                .where(Showtime.id == showtime_id)
            )
        ).first()
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

    async def lock_buyer(self, user_id: uuid.UUID, showtime_id: uuid.UUID) -> None:
        """Serialise one buyer's hold requests on one showtime (others never wait)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"hold:{user_id}:{showtime_id}"},
        )

    async def count_live_holds(self, user_id: uuid.UUID, showtime_id: uuid.UUID) -> int:
        """Live holds of a buyer; lapsed ones are marked expired on the way (lazy expiry)."""
        result = await self.session.execute(
            text(
                """
                WITH lapsed AS (
                    UPDATE holds SET status = 'expired', ended_at = now()
                     WHERE user_id = :user_id AND showtime_id = :showtime_id
                       AND status = 'active' AND expires_at < now()
                )
                SELECT count(*) FROM holds
                 WHERE user_id = :user_id AND showtime_id = :showtime_id
                   AND status = 'active' AND expires_at >= now()
                """
            ),
            {"user_id": user_id, "showtime_id": showtime_id},
        )
        return int(result.scalar_one())

    async def add(self, obj: Any) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def get_hold(self, hold_id: uuid.UUID, *, lock: bool = False) -> Hold | None:
        query = select(Hold).where(Hold.id == hold_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.scalars(query)).first()

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
        result = await self.session.execute(
            text(
                """
                SELECT u.hold_id, u.id, u.section_id, u.seat_id,
                       CASE WHEN s.id IS NULL THEN sec.name
                            ELSE sec.name || ' ' || s.row_label || '-' || s.number END
                  FROM inventory_units u
                  JOIN sections sec ON sec.id = u.section_id
                  LEFT JOIN seats s ON s.id = u.seat_id
                 WHERE u.hold_id = ANY(:hold_ids) AND u.state = 'held' AND u.booking_id IS NULL
                 ORDER BY u.id
                """
            ),
            {"hold_ids": list(hold_ids)},
        )
        lines: dict[uuid.UUID, list[UnitLine]] = {h: [] for h in hold_ids}
        for hold_id, unit_id, section_id, seat_id, label in result:
            lines[hold_id].append(UnitLine(unit_id, section_id, seat_id, label, None, None))
        return lines

    async def priced_units(self, hold_id: uuid.UUID) -> list[UnitLine]:
        result = await self.session.execute(_UNIT_LINES, {"hold_id": hold_id})
        return [UnitLine(*row) for row in result]

    async def priced_units_by_id(self, unit_ids: Sequence[int]) -> list[UnitLine]:
        result = await self.session.execute(
            text(_LINE_COLUMNS + " WHERE u.id = ANY(:ids) ORDER BY u.id"), {"ids": list(unit_ids)}
        )
        return [UnitLine(*row) for row in result]

    async def end_hold(self, hold: Hold, status: HoldStatus) -> None:
        hold.status = status
        hold.ended_at = func.now()
        await self.session.flush()

    async def get_booking(self, booking_id: uuid.UUID) -> Booking | None:
        return await self.session.get(Booking, booking_id, populate_existing=True)

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
        self, booking_id: uuid.UUID, status: TicketStatus, *, only: TicketStatus | None = None
    ) -> None:
        query = update(Ticket).where(Ticket.booking_id == booking_id)
        if only is not None:
            query = query.where(Ticket.status == only)
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
        return query

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
