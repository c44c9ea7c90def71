"""Reviews: one rating and comment per user and event; authors edit and delete their own."""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.catalog.errors import EventNotFound
from boxoffice.catalog.models import Event, EventStatus
from boxoffice.kit.errors import Forbidden
from boxoffice.kit.pagination import PageParams
from boxoffice.review import schemas
from boxoffice.review.errors import EventNotReviewable, ReviewExists, ReviewNotFound
from boxoffice.review.models import Review
from boxoffice.review.repository import ReviewRepository


class NotReviewAuthor(Forbidden):
    code = "not_review_author"
    title = "Only the review's author (or an admin) may change it"


def _out(review: Review, author_name: str) -> schemas.Review:
    return schemas.Review(
        id=review.id,
        event_id=review.event_id,
        user_id=review.user_id,
        author_name=author_name,
        rating=review.rating,
        body=review.body,
        metadata=review.meta,
        created_at=review.created_at,
        updated_at=review.updated_at,
    )


async def _public_event(session: AsyncSession, event_id: uuid.UUID) -> Event:
    event = await session.get(Event, event_id)
    if event is None or event.status is EventStatus.draft:
        raise EventNotFound(f"No event with id {event_id}")
    return event


async def rating_summary(
    session: AsyncSession, event_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[float | None, int]]:
    """Event id -> (average rating, number of reviews)."""
    return await ReviewRepository(session).summary(event_ids)


async def create_review(
    session: AsyncSession, user: User, event_id: uuid.UUID, data: schemas.ReviewCreate
) -> schemas.Review:
    """Review a published event, once per user."""
    event = await _public_event(session, event_id)
    if event.status is not EventStatus.published:
        raise EventNotReviewable()
    repo = ReviewRepository(session)
    if await repo.find(event.id, user.id) is not None:
        raise ReviewExists()
    review = await repo.add(
        Review(
            event_id=event.id,
            user_id=user.id,
            rating=data.rating,
            body=data.body,
            meta=data.metadata,
        )
    )
    return _out(review, user.full_name)


async def list_reviews(
    session: AsyncSession, event_id: uuid.UUID, page: PageParams
) -> tuple[list[schemas.Review], int]:
    """An event's reviews, newest first."""
    await _public_event(session, event_id)
    rows, total = await ReviewRepository(session).list_for_event(
        event_id, limit=page.limit, offset=page.offset
    )
    return [_out(r, name) for r, name in rows], total


async def list_user_reviews(
    session: AsyncSession, user: User, page: PageParams
) -> tuple[list[schemas.Review], int]:
    """The caller's own reviews, newest first."""
    rows, total = await ReviewRepository(session).list_by_user(
        user.id, limit=page.limit, offset=page.offset
    )
    return [_out(r, name) for r, name in rows], total


async def _own_review(session: AsyncSession, user: User, review_id: uuid.UUID) -> Review:
    review = await ReviewRepository(session).get(review_id, for_update=True)
    if review is None:
        raise ReviewNotFound(f"No review with id {review_id}")
    if review.user_id != user.id and not has_permission(user.role, Permission.user_manage):
        raise NotReviewAuthor()
    return review


async def update_review(
    session: AsyncSession, user: User, review_id: uuid.UUID, data: schemas.ReviewUpdate
) -> schemas.Review:
    """Edit one's own review."""
    review = await _own_review(session, user, review_id)
    if data.rating is not None:
        review.rating = data.rating
    if data.body is not None:
        review.body = data.body
    if data.metadata is not None:
        review.meta = data.metadata
    await session.flush()
    await session.refresh(review)
    await _audit_moderation(session, user, AuditAction.review_edited, review)
    repo = ReviewRepository(session)
    return _out(review, await repo.author_name(review.user_id))


async def delete_review(session: AsyncSession, user: User, review_id: uuid.UUID) -> None:
    """Delete one's own review (admins may delete any)."""
    review = await _own_review(session, user, review_id)
    await _audit_moderation(session, user, AuditAction.review_deleted, review)
    await ReviewRepository(session).delete(review)


async def _audit_moderation(
    session: AsyncSession, user: User, action: AuditAction, review: Review
) -> None:
    """An admin's edit or removal of someone else's review (an author's own is not staff)."""
    if review.user_id == user.id:
        return
    event = await session.get(Event, review.event_id)
    audit.record(
        session,
        user,
        action,
        "review",
        review.id,
        organizer_id=event.organizer_id if event is not None else None,
        event_id=review.event_id,
        author_id=str(review.user_id),
        rating=review.rating,
    )
