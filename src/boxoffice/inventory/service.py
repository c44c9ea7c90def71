import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.errors import PermissionDenied
from boxoffice.auth.models import User
from boxoffice.auth.permissions import manages_organizer
from boxoffice.catalog.models import Showtime
from boxoffice.inventory import claim_service
from boxoffice.inventory.errors import ShowtimeNotFound, UnblockNeedsUnits
from boxoffice.inventory.repository import InventoryReadRepository, InventoryRepository
from boxoffice.inventory.schemas import UnitsChanged, UnitSelection


async def create_showtime_inventory(
    session: AsyncSession, showtime_id: uuid.UUID, venue_id: uuid.UUID
) -> int:
    """Snapshot the venue's layout into the showtime's sellable units."""
    return await InventoryRepository(session).snapshot_venue(showtime_id, venue_id)


async def venue_has_sales(session: AsyncSession, venue_id: uuid.UUID) -> bool:
    """Whether a showtime at the venue has sold units or units under a live hold."""
    return await InventoryReadRepository(session).venue_has_sales(venue_id)


async def event_has_sales(session: AsyncSession, event_id: uuid.UUID) -> bool:
    """Whether a showtime of the event has sold units or units under a live hold."""
    return await InventoryReadRepository(session).event_has_sales(event_id)


async def showtime_availability(
    session: AsyncSession, showtime_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[int, int]]:
    """(showtime id, section id) -> (units, available units); expired holds count as free."""
    return await InventoryReadRepository(session).availability(showtime_ids)


async def check_manager(
    session: AsyncSession, user: User, showtime_id: uuid.UUID, *, action: str = "block seats"
) -> uuid.UUID:
    """The event's organizer. 404 for an unknown showtime; 403 unless `user` manages that
    organizer (the organizer, an editor they granted, or an admin)."""
    organizer_id = await InventoryRepository(session).showtime_organizer(showtime_id)
    if organizer_id is None:
        raise ShowtimeNotFound()
    if not manages_organizer(user, organizer_id):
        raise PermissionDenied(f"Only the event's organizer (or an admin) may {action}")
    return organizer_id


async def block(
    session: AsyncSession, user: User, showtime_id: uuid.UUID, data: UnitSelection
) -> UnitsChanged:
    """Take units off sale (house seats, broken seats, a smaller floor): all or nothing,
    and only units nobody holds or bought: 409 names those that are taken."""
    organizer_id = await check_manager(session, user, showtime_id)
    if data.section_id is not None and data.quantity is not None:
        blocked = await claim_service.block_general_admission(
            session, showtime_id, data.section_id, data.quantity
        )
    else:
        blocked = await claim_service.block_units(
            session, showtime_id, unit_ids=data.unit_ids or (), seat_ids=data.seat_ids or ()
        )
    await _audit(session, user, AuditAction.seats_blocked, showtime_id, organizer_id, blocked)
    return UnitsChanged(showtime_id=showtime_id, state="blocked", unit_ids=sorted(blocked))


async def _audit(
    session: AsyncSession,
    user: User,
    action: AuditAction,
    showtime_id: uuid.UUID,
    organizer_id: uuid.UUID,
    unit_ids: list[int],
) -> None:
    """The organizer is the one `check_manager` found; the event, the showtime's."""
    if unit_ids:
        showtime = await session.get_one(Showtime, showtime_id)
        audit.record(
            session,
            user,
            action,
            "showtime",
            showtime_id,
            organizer_id=organizer_id,
            event_id=showtime.event_id,
            units=len(unit_ids),
            unit_ids=sorted(unit_ids)[:100],
        )


async def unblock(
    session: AsyncSession, user: User, showtime_id: uuid.UUID, data: UnitSelection
) -> UnitsChanged:
    """Put blocked units back on sale; the waitlist hears of them like any returned units."""
    organizer_id = await check_manager(session, user, showtime_id)
    if data.section_id is not None:
        raise UnblockNeedsUnits()
    pairs = await claim_service.unblock_units(
        session, showtime_id, unit_ids=data.unit_ids or (), seat_ids=data.seat_ids or ()
    )
    freed = sorted(unit for unit, _ in pairs)
    await claim_service.units_released(session, showtime_id, freed, "unblocked")
    await _audit(session, user, AuditAction.seats_unblocked, showtime_id, organizer_id, freed)
    done = {seat for _, seat in pairs} if data.seat_ids else set(freed)
    unchanged = sorted(set(data.seat_ids or data.unit_ids or []) - done)
    return UnitsChanged(
        showtime_id=showtime_id, state="available", unit_ids=freed, unchanged=unchanged
    )
