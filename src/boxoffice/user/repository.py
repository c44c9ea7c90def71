"""SQL of user management."""

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import AuthSession, PhoneVerification, Role, User, UserIdentity
from boxoffice.booking.models import TicketTransferOffer
from boxoffice.catalog.models import UserLocation
from boxoffice.kit.pagination import PageParams, SortOrder
from boxoffice.kit.search import contains_pattern
from boxoffice.notification.models import (
    EventInterest,
    Notification,
    NotificationPreference,
    OrganizerFollow,
)
from boxoffice.user.schemas import UserSort

_SORT_COLUMNS = {
    UserSort.created_at: User.created_at,
    UserSort.email: User.email,
    UserSort.role: User.role,
    UserSort.full_name: User.full_name,
}


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def list_users(
    session: AsyncSession,
    page: PageParams,
    *,
    role: Role | None,
    email: str | None,
    is_active: bool | None,
    sort: UserSort,
    order: SortOrder,
) -> tuple[Sequence[User], int]:
    conditions: list[ColumnElement[bool]] = [User.deleted_at.is_(None)]
    if role is not None:
        conditions.append(User.role == role)
    if email:
        conditions.append(User.email.ilike(contains_pattern(email), escape="\\"))
    if is_active is not None:
        conditions.append(User.is_active.is_(is_active))
    column = _SORT_COLUMNS[sort]
    ordering = column.asc() if order is SortOrder.asc else column.desc()
    total = await session.scalar(select(func.count()).select_from(User).where(*conditions))
    users = await session.scalars(
        select(User)
        .where(*conditions)
        .order_by(ordering, User.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    return users.all(), total or 0


async def delete_personal_rows(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Drop what records the person rather than the business: devices and IPs (sessions,
    with their refresh tokens), phone codes, linked external accounts, their location,
    notifications, what they asked to be told about, and their tickets' offers to others'
    addresses."""
    for model in (
        AuthSession,
        PhoneVerification,
        UserIdentity,
        UserLocation,
        Notification,
        NotificationPreference,
        OrganizerFollow,
        EventInterest,
    ):
        await session.execute(delete(model).where(model.user_id == user_id))
    # Their tickets' offers name the addresses they gave them to; open ones lapse with it.
    await session.execute(
        delete(TicketTransferOffer).where(TicketTransferOffer.from_user_id == user_id)
    )
