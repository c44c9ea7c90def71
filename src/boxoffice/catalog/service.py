from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.catalog.models import Event
from boxoffice.catalog.repository import EventRepository
from boxoffice.kit.pagination import PageParams


async def list_public_events(
    session: AsyncSession, page: PageParams
) -> tuple[Sequence[Event], int]:
    """Published events, newest first."""
    return await EventRepository(session).list_published(limit=page.limit, offset=page.offset)
