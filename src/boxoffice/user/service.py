"""Profiles (self-service) and user management (admins)."""

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth import email_verification
from boxoffice.auth import repository as auth_repository
from boxoffice.auth import service as auth_service
from boxoffice.auth.errors import EmailTaken, PermissionDenied
from boxoffice.auth.models import Role, User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.kit.pagination import PageParams, SortOrder
from boxoffice.kit.time import utcnow
from boxoffice.user import repository
from boxoffice.user.errors import (
    CannotModifySelf,
    NotAnEditor,
    NotAnOrganizer,
    UserDeleted,
    UserNotFound,
)
from boxoffice.user.schemas import AdminUserUpdate, UserSort, UserUpdate

log = structlog.get_logger(__name__)


async def update_profile(session: AsyncSession, user: User, changes: UserUpdate) -> User:
    """Apply the caller's own profile changes; a new phone number starts unverified."""
    if changes.full_name is not None:
        user.full_name = changes.full_name.strip()
    if changes.phone is not None and changes.phone != user.phone:
        user.phone = changes.phone
        user.phone_verified_at = None
    await session.flush()
    await session.refresh(user)
    return user


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
    return await repository.list_users(
        session, page, role=role, email=email, is_active=is_active, sort=sort, order=order
    )


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def managed_user(session: AsyncSession, admin: User, user_id: uuid.UUID) -> User:
    """The user an admin may act on: not themselves (409), not deleted (409), else 404."""
    if user_id == admin.id:
        raise CannotModifySelf()
    user = await get_user(session, user_id)
    if user.deleted_at is not None:
        raise UserDeleted()
    return user


async def update_user(
    session: AsyncSession, admin: User, user_id: uuid.UUID, changes: AdminUserUpdate
) -> User:
    """Correct a user's name or e-mail address (seed 002's `PUT /users/:id`)."""
    user = await get_user(session, user_id)
    if user.deleted_at is not None:
        raise UserDeleted()
    changed = []
    if changes.full_name is not None and changes.full_name.strip() != user.full_name:
        changed.append("full_name")
        user.full_name = changes.full_name.strip()
    if changes.email is not None and changes.email.lower() != user.email.lower():
        changed.append("email")
        if await auth_repository.get_user_by_email(session, str(changes.email)) is not None:
            raise EmailTaken()
        user.email = str(changes.email)
        user.email_verified_at = None
        await email_verification.queue(session, user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent registration took the address
        raise EmailTaken() from exc
    log.info("user_updated_by_admin", user_id=str(user.id), by=str(admin.id))
    if changed:
        # Which fields, not their values: the entry outlives the person's data.
        audit.record(session, admin, AuditAction.user_updated, "user", user.id, fields=changed)
    await session.refresh(user)
    return user


async def change_role(session: AsyncSession, admin: User, user_id: uuid.UUID, role: Role) -> User:
    """Give a user another role; their current access tokens end (they carry the role)."""
    user = await managed_user(session, admin, user_id)
    if user.role is not role:
        audit.record(
            session,
            admin,
            AuditAction.user_role_changed,
            "user",
            user.id,
            from_role=user.role.value,
            to_role=role.value,
        )
        user.role = role
        user.token_version += 1
        await session.flush()
        log.info("user_role_changed", user_id=str(user.id), role=role.value, by=str(admin.id))
    await session.refresh(user)
    return user


async def deactivate(session: AsyncSession, admin: User, user_id: uuid.UUID) -> User:
    """Lock a user out at once: every session and token stops working."""
    user = await managed_user(session, admin, user_id)
    if user.is_active:
        audit.record(session, admin, AuditAction.user_deactivated, "user", user.id)
    user.is_active = False
    await auth_service.end_all_sessions(session, user, reason="deactivated")
    log.info("user_deactivated", user_id=str(user.id), by=str(admin.id))
    await session.refresh(user)
    return user


async def reactivate(session: AsyncSession, admin: User, user_id: uuid.UUID) -> User:
    user = await managed_user(session, admin, user_id)
    if not user.is_active:
        audit.record(session, admin, AuditAction.user_reactivated, "user", user.id)
    user.is_active = True
    await session.flush()
    log.info("user_reactivated", user_id=str(user.id), by=str(admin.id))
    await session.refresh(user)
    return user


async def scrub(session: AsyncSession, user: User) -> None:
    """Personal data out, account disabled and signed out everywhere; the row stays."""
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.full_name = ""
    user.phone = None
    user.phone_verified_at = None
    user.password_hash = None
    user.is_active = False
    user.deleted_at = utcnow()
    user.token_version += 1
    await session.flush()
    await repository.delete_personal_rows(session, user.id)


async def _editor(session: AsyncSession, editor_id: uuid.UUID) -> User:
    editor = await get_user(session, editor_id)
    if editor.deleted_at is not None:
        raise UserDeleted()
    if editor.role is not Role.editor:
        raise NotAnEditor()
    return editor


def _may_grant(actor: User, organizer_id: uuid.UUID) -> None:
    if actor.id != organizer_id and not has_permission(actor.role, Permission.user_manage):
        raise PermissionDenied("Only the organizer or an admin may grant their catalog")


async def grant_editor(
    session: AsyncSession, actor: User, editor_id: uuid.UUID, organizer_id: uuid.UUID
) -> User:
    """Let an editor manage an organizer's venues and events (by the organizer or an admin)."""
    _may_grant(actor, organizer_id)
    organizer = await get_user(session, organizer_id)
    if organizer.role is not Role.organizer or organizer.deleted_at is not None:
        raise NotAnOrganizer()
    editor = await _editor(session, editor_id)
    if organizer_id not in editor.managed_organizer_ids:
        editor.managed_organizer_ids = [*editor.managed_organizer_ids, organizer_id]
        await session.flush()
        audit.record(
            session,
            actor,
            AuditAction.editor_granted,
            "user",
            editor.id,
            organizer_id=organizer_id,
        )
    return editor


async def revoke_editor(
    session: AsyncSession, actor: User, editor_id: uuid.UUID, organizer_id: uuid.UUID
) -> User:
    """Take an organizer's catalog away from an editor (by the organizer or an admin)."""
    _may_grant(actor, organizer_id)
    editor = await _editor(session, editor_id)
    if organizer_id in editor.managed_organizer_ids:
        audit.record(
            session,
            actor,
            AuditAction.editor_revoked,
            "user",
            editor.id,
            organizer_id=organizer_id,
        )
    editor.managed_organizer_ids = [o for o in editor.managed_organizer_ids if o != organizer_id]
    await session.flush()
    return editor


async def editor_grants(session: AsyncSession, actor: User, editor_id: uuid.UUID) -> User:
    """An editor's grants: visible to the editor and to admins."""
    if actor.id != editor_id and not has_permission(actor.role, Permission.user_read_any):
        raise UserNotFound()
    return await _editor(session, editor_id)
