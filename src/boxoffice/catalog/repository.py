from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.catalog.models import Event, EventStatus


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_published(self, *, limit: int, offset: int) -> tuple[Sequence[Event], int]:
        where = Event.status == EventStatus.published
        total = await self.session.scalar(select(func.count()).select_from(Event).where(where))
        rows = await self.session.scalars(
            select(Event)
            .where(where)
            .order_by(Event.created_at.desc(), Event.id)
            .limit(limit)
            .offset(offset)
        )
        return rows.all(), total or 0
