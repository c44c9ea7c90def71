import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.inventory.repository import InventoryRepository


async def create_showtime_inventory(
    session: AsyncSession, showtime_id: uuid.UUID, venue_id: uuid.UUID
) -> int:
    """Snapshot the venue's layout into the showtime's sellable units."""
    return await InventoryRepository(session).snapshot_venue(showtime_id, venue_id)
