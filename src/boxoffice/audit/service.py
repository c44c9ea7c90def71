"""Write an audit entry beside an action; read the log as its readers may."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import ColumnElement, CursorResult, and_, delete, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit.models import AuditAction, AuditEntry
from boxoffice.auth.errors import PermissionDenied
from boxoffice.auth.models import Role, User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.catalog.models import Event
from boxoffice.kit.pagination import PageParams


def record(
    session: AsyncSession,
    actor: User | None,
    action: AuditAction,
    target_type: str,
    target_id: uuid.UUID | str,
    *,
    organizer_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    **details: Any,
) -> AuditEntry:
    """Add the entry to the session: it commits with the action, or not at all.

    `actor` None: the system (a job, a webhook from a payment provider)."""
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_role=actor.role.value if actor is not None else "system",
        action=action.value,
        target_type=target_type,
        target_id=str(target_id),
        organizer_id=organizer_id,
        event_id=event_id,
        request_id=structlog.contextvars.get_contextvars().get("request_id"),
        details=details,
    )
    session.add(entry)
    return entry


async def prune(session: AsyncSession, retention_days: int, *, now: datetime) -> int:
    """Delete entries older than `retention_days` (0: none); how many went. Daily, this is
    one day's entries, found by the index on `at`."""
    if retention_days <= 0:
        return 0
    result = await session.execute(
        delete(AuditEntry).where(AuditEntry.at < now - timedelta(days=retention_days))
    )
    return cast(CursorResult[Any], result).rowcount


async def about(session: AsyncSession, user: User) -> Sequence[AuditEntry]:
    """What the log holds on `user`: what they did, and what was done to their account."""
    rows = await session.scalars(
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.actor_id == user.id,
                and_(AuditEntry.target_type == "user", AuditEntry.target_id == str(user.id)),
            )
        )
        .order_by(AuditEntry.seq)
    )
    return rows.all()


async def event_context(
    session: AsyncSession, event_id: uuid.UUID
) -> tuple[uuid.UUID | None, uuid.UUID]:
    """(organizer id, event id) for `record`: the event from the session's identity map
    where the action loaded it already (a booking's checks do), else by its key."""
    event = await session.get(Event, event_id)
    return (event.organizer_id if event is not None else None), event_id


@dataclass(frozen=True, slots=True)
class AuditFilters:
    action: str | None = None
    actor_id: uuid.UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    event_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


def _readable_by(user: User) -> ColumnElement[bool]:
    """Admins read everything; organizers what concerns their own events, venues and
    coupons; editors what concerns the organizers that granted them; others nothing."""
    if has_permission(user.role, Permission.audit_read_any):
        return true()
    if not has_permission(user.role, Permission.audit_read_own):
        raise PermissionDenied("Requires permission 'audit:read-own'")
    organizers = [user.id]
    if user.role is Role.editor:
        organizers = list(user.managed_organizer_ids or ())
    return AuditEntry.organizer_id.in_(organizers)


async def list_entries(
    session: AsyncSession, user: User, filters: AuditFilters, page: PageParams
) -> tuple[Sequence[AuditEntry], int]:
    """Newest first."""
    where = [_readable_by(user)]
    for column, value in (
        (AuditEntry.action, filters.action),
        (AuditEntry.actor_id, filters.actor_id),
        (AuditEntry.target_type, filters.target_type),
        (AuditEntry.target_id, filters.target_id),
        (AuditEntry.event_id, filters.event_id),
    ):
        if value is not None:
            where.append(column == value)
    if filters.since is not None:
        where.append(AuditEntry.at >= filters.since)
    if filters.until is not None:
        where.append(AuditEntry.at < filters.until)
    condition = and_(*where)
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(condition))
    rows = await session.scalars(
        select(AuditEntry)
        .where(condition)
        .order_by(AuditEntry.seq.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), total or 0
