"""The permission table, and `require()` enforcing it on real requests."""

from collections.abc import Callable
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.dependencies import require
from boxoffice.auth.models import Role, User
from boxoffice.auth.permissions import ROLE_PERMISSIONS, Permission, has_permission
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


class TestTable:
    def test_every_role_has_a_row(self) -> None:
        assert set(ROLE_PERMISSIONS) == set(Role)

    def test_buyer_has_no_privileges(self) -> None:
        assert ROLE_PERMISSIONS[Role.buyer] == frozenset()

    def test_roles_grow_from_organizer_to_editor_to_admin(self) -> None:
        assert ROLE_PERMISSIONS[Role.organizer] < ROLE_PERMISSIONS[Role.editor]
        assert ROLE_PERMISSIONS[Role.editor] < ROLE_PERMISSIONS[Role.admin]
        assert ROLE_PERMISSIONS[Role.admin] == frozenset(Permission)

    @pytest.mark.parametrize("role", [Role.buyer, Role.organizer, Role.editor])
    def test_only_admins_manage_users(self, role: Role) -> None:
        assert not has_permission(role, Permission.user_manage)
        assert not has_permission(role, Permission.user_read_any)


@pytest.fixture
def guarded(app: FastAPI) -> FastAPI:
    """Two probe endpoints guarded the way every domain guards its routes."""

    @app.post("/api/_probe/venues")
    async def organizer_only(
        user: Annotated[User, Depends(require(Permission.venue_manage))],
    ) -> dict[str, str]:
        return {"id": str(user.id)}

    @app.get("/api/_probe/analytics")
    async def admin_only(
        user: Annotated[User, Depends(require(Permission.analytics_read))],
    ) -> dict[str, str]:
        return {"id": str(user.id)}

    return app


class TestRequire:
    @pytest.mark.parametrize(
        ("role", "venue_status", "analytics_status"),
        [
            (Role.buyer, 403, 403),
            (Role.organizer, 200, 403),
            (Role.editor, 200, 403),
            (Role.admin, 200, 200),
        ],
    )
    async def test_role_decides(
        self,
        guarded: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        role: Role,
        venue_status: int,
        analytics_status: int,
    ) -> None:
        user = await create_user(session, role=role)
        venues = await client.post("/api/_probe/venues", headers=auth_headers(user))
        analytics = await client.get("/api/_probe/analytics", headers=auth_headers(user))
        assert (venues.status_code, analytics.status_code) == (venue_status, analytics_status)
        if venue_status == 403:
            assert venues.json()["code"] == "permission_denied"

    async def test_anonymous_gets_401(self, guarded: FastAPI, client: AsyncClient) -> None:
        response = await client.post("/api/_probe/venues")
        assert response.status_code == 401
