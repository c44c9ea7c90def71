import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.review.models import Review


class ReviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, review_id: uuid.UUID, *, for_update: bool = False) -> Review | None:
        stmt = select(Review).where(Review.id == review_id)
        if for_update:
            stmt = stmt.with_for_update(key_share=True)
        return await self.session.scalar(stmt)

    async def find(self, event_id: uuid.UUID, user_id: uuid.UUID) -> Review | None:
        return await self.session.scalar(
            select(Review).where(Review.event_id == event_id, Review.user_id == user_id)
        )

    async def add(self, review: Review) -> Review:
        self.session.add(review)
        await self.session.flush()
        await self.session.refresh(review)
        return review

    async def delete(self, review: Review) -> None:
        await self.session.delete(review)
        await self.session.flush()

    async def author_name(self, user_id: uuid.UUID) -> str:
        name = await self.session.scalar(select(User.full_name).where(User.id == user_id))
        return name or ""

    async def list_for_event(
        self, event_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[tuple[Review, str]], int]:
        return await self._list(Review.event_id == event_id, limit=limit, offset=offset)

    async def list_by_user(
        self, user_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[tuple[Review, str]], int]:
        return await self._list(Review.user_id == user_id, limit=limit, offset=offset)

    async def _list(
        self, where: ColumnElement[bool], *, limit: int, offset: int
    ) -> tuple[list[tuple[Review, str]], int]:
        """Reviews with their author's name, newest first."""
        total = await self.session.scalar(select(func.count()).select_from(Review).where(where))
        rows = await self.session.execute(
            select(Review, User.full_name)
            .join(User, User.id == Review.user_id)
            .where(where)
            .order_by(Review.created_at.desc(), Review.id)
            .limit(limit)
            .offset(offset)
        )
        return [(r, name) for r, name in rows.all()], total or 0

    async def summary(
        self, event_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[float | None, int]]:
        if not event_ids:
            return {}
        rows = await self.session.execute(
            select(Review.event_id, func.avg(Review.rating), func.count())
            .where(Review.event_id.in_(event_ids))
            .group_by(Review.event_id)
        )
        return {
            event_id: (round(float(avg), 2) if avg is not None else None, int(count))
            for event_id, avg, count in rows.all()
        }
