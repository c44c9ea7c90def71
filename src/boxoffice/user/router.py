"""HTTP for /api/users: my profile and password, and user management for admins."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from boxoffice.auth import service as auth_service
from boxoffice.auth.dependencies import (
    AppSettings,
    CurrentSessionId,
    CurrentUser,
    ExportAllowance,
    require,
)
from boxoffice.auth.models import Role, User
from boxoffice.auth.permissions import Permission
from boxoffice.auth.schemas import PasswordChange, UserRead
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination, SortOrder
from boxoffice.user import closing, export, service
from boxoffice.user.export import AccountExport
from boxoffice.user.schemas import (
    AccountDeletion,
    AdminUserRead,
    AdminUserUpdate,
    EditorGrants,
    RoleChange,
    UserSort,
    UserUpdate,
)

router = APIRouter(
    prefix="/api/users", tags=["users"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)

UserReader = Annotated[User, Depends(require(Permission.user_read_any))]
UserManager = Annotated[User, Depends(require(Permission.user_manage))]


@router.get("/me", response_model=UserRead, summary="Who am I")
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.get(
    "/me/export",
    response_model=AccountExport,
    summary="Everything kept about me, in one document (bookings, tickets, payments, ...)",
)
async def export_me(
    session: Session, user: CurrentUser, settings: AppSettings, _: ExportAllowance
) -> AccountExport:
    return await export.export(session, user, settings)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete my account: personal data scrubbed, holds and unpaid bookings given back",
)
async def delete_me(
    session: Session, user: CurrentUser, settings: AppSettings, body: AccountDeletion | None = None
) -> None:
    await closing.delete_own_account(session, user, settings, body.password if body else None)


@router.get("/profile", response_model=UserRead, summary="My profile")
async def get_profile(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.put("/profile", response_model=UserRead, summary="Update my profile")
async def update_profile(session: Session, user: CurrentUser, body: UserUpdate) -> UserRead:
    return UserRead.model_validate(await service.update_profile(session, user, body))


@router.put(
    "/change-password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Change my password (signs out every other device)",
)
async def change_password(
    session: Session,
    settings: AppSettings,
    user: CurrentUser,
    session_id: CurrentSessionId,
    body: PasswordChange,
) -> None:
    await auth_service.change_password(
        session,
        settings.auth,
        user,
        current_password=body.current_password,
        new_password=body.new_password,
        current_session_id=session_id,
    )


@router.get("", response_model=Page[AdminUserRead], summary="List users (admin)")
async def list_users(
    request: Request,
    session: Session,
    page: Pagination,
    _admin: UserReader,
    role: Role | None = None,
    email: Annotated[
        str | None, Query(max_length=320, description="Part of the e-mail address")
    ] = None,
    is_active: bool | None = None,
    sort: UserSort = UserSort.created_at,
    order: SortOrder = SortOrder.desc,
) -> Page[AdminUserRead]:
    users, total = await service.list_users(
        session, page, role=role, email=email, is_active=is_active, sort=sort, order=order
    )
    return Page[AdminUserRead].build(
        [AdminUserRead.model_validate(u) for u in users], total, page, request
    )


@router.get("/{user_id}", response_model=AdminUserRead, summary="Get one user (admin)")
async def get_user(user_id: uuid.UUID, session: Session, _admin: UserReader) -> AdminUserRead:
    return AdminUserRead.model_validate(await service.get_user(session, user_id))


@router.put("/{user_id}", response_model=AdminUserRead, summary="Correct a user's name or e-mail")
async def update_user(
    user_id: uuid.UUID, body: AdminUserUpdate, session: Session, admin: UserManager
) -> AdminUserRead:
    return AdminUserRead.model_validate(await service.update_user(session, admin, user_id, body))


@router.put("/{user_id}/role", response_model=AdminUserRead, summary="Change a user's role")
async def change_role(
    user_id: uuid.UUID, body: RoleChange, session: Session, admin: UserManager
) -> AdminUserRead:
    user = await service.change_role(session, admin, user_id, body.role)
    return AdminUserRead.model_validate(user)


@router.post(
    "/{user_id}/deactivate",
    response_model=AdminUserRead,
    summary="Deactivate a user (locked out at once)",
)
async def deactivate(user_id: uuid.UUID, session: Session, admin: UserManager) -> AdminUserRead:
    return AdminUserRead.model_validate(await service.deactivate(session, admin, user_id))


@router.post("/{user_id}/reactivate", response_model=AdminUserRead, summary="Reactivate a user")
async def reactivate(user_id: uuid.UUID, session: Session, admin: UserManager) -> AdminUserRead:
    return AdminUserRead.model_validate(await service.reactivate(session, admin, user_id))


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a user: personal data scrubbed, bookings and payments kept",
)
async def delete_user(user_id: uuid.UUID, session: Session, admin: UserManager) -> None:
    await closing.delete_by_admin(session, admin, user_id)


def _grants(editor: User) -> EditorGrants:
    return EditorGrants(editor_id=editor.id, organizer_ids=list(editor.managed_organizer_ids))


@router.get(
    "/{user_id}/editor-grants",
    response_model=EditorGrants,
    summary="Organizers whose catalog an editor may manage (the editor or admins)",
)
async def get_editor_grants(
    session: Session, user: CurrentUser, user_id: uuid.UUID
) -> EditorGrants:
    return _grants(await service.editor_grants(session, user, user_id))


@router.put(
    "/{user_id}/editor-grants/{organizer_id}",
    response_model=EditorGrants,
    summary="Let an editor manage an organizer's venues and events (the organizer or admins)",
)
async def grant_editor(
    session: Session, user: CurrentUser, user_id: uuid.UUID, organizer_id: uuid.UUID
) -> EditorGrants:
    return _grants(await service.grant_editor(session, user, user_id, organizer_id))


@router.delete(
    "/{user_id}/editor-grants/{organizer_id}",
    response_model=EditorGrants,
    summary="Take an organizer's catalog away from an editor (the organizer or admins)",
)
async def revoke_editor(
    session: Session, user: CurrentUser, user_id: uuid.UUID, organizer_id: uuid.UUID
) -> EditorGrants:
    return _grants(await service.revoke_editor(session, user, user_id, organizer_id))
