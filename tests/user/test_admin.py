"""User management by admins, and who may not reach it."""

from collections.abc import Callable

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import AuthSession, Role, User
from tests.auth.helpers import bearer, login, register
from tests.factories import PASSWORD, create_user

Headers = Callable[[User], dict[str, str]]


class TestAccessControl:
    @pytest.mark.parametrize("role", [Role.buyer, Role.organizer, Role.editor])
    async def test_non_admins_cannot_manage_users(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, role: Role
    ) -> None:
        caller = await create_user(session, role=role)
        other = await create_user(session)
        headers = auth_headers(caller)
        for method, path in [
            ("GET", "/api/users"),
            ("GET", f"/api/users/{other.id}"),
            ("PUT", f"/api/users/{other.id}/role"),
            ("POST", f"/api/users/{other.id}/deactivate"),
            ("DELETE", f"/api/users/{other.id}"),
        ]:
            json = {"role": "admin"} if path.endswith("/role") else None
            response = await client.request(method, path, headers=headers, json=json)
            assert response.status_code == 403, (method, path)
            assert response.json()["code"] == "permission_denied"
        await session.refresh(other)
        assert other.role is Role.buyer
        assert other.is_active

    async def test_buyer_cannot_promote_themselves(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        response = await client.put(
            f"/api/users/{buyer.id}/role", json={"role": "admin"}, headers=auth_headers(buyer)
        )
        assert response.status_code == 403


class TestListUsers:
    async def test_filters_pagination_and_sort(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        for i in range(3):
            await create_user(session, role=Role.organizer, email=f"org{i}-zq@example.com")
        await create_user(session, email="buyer-zq@example.com")
        response = await client.get(
            "/api/users",
            params={"role": "organizer", "email": "ZQ@", "sort": "email", "order": "asc"},
            headers=auth_headers(admin),
        )
        body = response.json()
        assert body["total"] == 3
        assert [u["email"] for u in body["items"]] == [
            "org0-zq@example.com",
            "org1-zq@example.com",
            "org2-zq@example.com",
        ]
        page = await client.get(
            "/api/users",
            params={"email": "-zq@", "sort": "email", "limit": 2, "offset": 2},
            headers=auth_headers(admin),
        )
        page_body = page.json()
        assert page_body["total"] == 4
        assert [u["email"] for u in page_body["items"]] == [
            "org0-zq@example.com",
            "buyer-zq@example.com",
        ]
        assert page_body["next"] is None

    async def test_wildcards_in_the_email_filter_are_literal(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        await create_user(session, email="plain@example.com")
        response = await client.get(
            "/api/users", params={"email": "%"}, headers=auth_headers(admin)
        )
        assert response.json()["total"] == 0

    async def test_get_one_and_unknown(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        user = await create_user(session)
        found = await client.get(f"/api/users/{user.id}", headers=auth_headers(admin))
        assert found.json()["email"] == user.email
        assert found.json()["is_active"] is True
        missing = await client.get(
            "/api/users/00000000-0000-0000-0000-000000000000", headers=auth_headers(admin)
        )
        assert missing.status_code == 404
        assert missing.json()["code"] == "user_not_found"


class TestManageUsers:
    async def test_change_role_takes_effect_on_the_next_sign_in(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        tokens = await register(client)
        user_id = tokens["user"]["id"]
        response = await client.put(
            f"/api/users/{user_id}/role", json={"role": "organizer"}, headers=auth_headers(admin)
        )
        assert response.json()["role"] == "organizer"
        # The old token carried the old role: it is refused; a fresh sign-in carries the new.
        old = await client.get("/api/users/me", headers=bearer(tokens))
        assert old.json()["code"] == "invalid_token"
        refreshed = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.json()["user"]["role"] == "organizer"

    async def test_deactivated_user_is_locked_out_at_once(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        tokens = await register(client)
        user_id = tokens["user"]["id"]
        response = await client.post(
            f"/api/users/{user_id}/deactivate", headers=auth_headers(admin)
        )
        assert response.json()["is_active"] is False
        me = await client.get("/api/users/me", headers=bearer(tokens))
        assert me.status_code == 401
        refreshed = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401
        relogin = await client.post(
            "/api/auth/login",
            json={"email": tokens["user"]["email"], "password": "blue-kettle-seventeen-doors"},
        )
        assert relogin.json()["code"] == "account_disabled"

        await client.post(f"/api/users/{user_id}/reactivate", headers=auth_headers(admin))
        await login(client, tokens["user"]["email"])

    async def test_delete_scrubs_personal_data_and_disables(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        user = await create_user(session)
        email = user.email
        tokens = await login(client, email, PASSWORD)
        response = await client.delete(f"/api/users/{user.id}", headers=auth_headers(admin))
        assert response.status_code == 204
        await session.refresh(user)
        assert user.email == f"deleted-{user.id}@deleted.invalid"
        assert user.password_hash is None
        assert user.deleted_at is not None
        assert not user.is_active
        devices = await session.scalars(select(AuthSession).where(AuthSession.user_id == user.id))
        assert devices.all() == []
        assert (await client.get("/api/users/me", headers=bearer(tokens))).status_code == 401
        again = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert again.json()["code"] == "invalid_credentials"
        listed = await client.get("/api/users", headers=auth_headers(admin))
        assert str(user.id) not in {u["id"] for u in listed.json()["items"]}
        # The e-mail address is free again.
        await register(client, email=email)

    async def test_admin_cannot_lock_themselves_out(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        response = await client.post(
            f"/api/users/{admin.id}/deactivate", headers=auth_headers(admin)
        )
        assert response.status_code == 409
        assert response.json()["code"] == "cannot_modify_self"


class TestAdminUpdate:
    async def test_correct_name_and_email(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        user = await create_user(session)
        response = await client.put(
            f"/api/users/{user.id}",
            json={"full_name": "Corrected Name", "email": "corrected@example.com"},
            headers=auth_headers(admin),
        )
        assert response.status_code == 200
        assert response.json()["full_name"] == "Corrected Name"
        await login(client, "corrected@example.com", PASSWORD)

    async def test_email_of_another_account_is_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        user = await create_user(session)
        other = await create_user(session)
        response = await client.put(
            f"/api/users/{user.id}",
            json={"email": other.email.upper()},
            headers=auth_headers(admin),
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_buyer_cannot_edit_another_user(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        other = await create_user(session)
        response = await client.put(
            f"/api/users/{other.id}", json={"full_name": "Hacked"}, headers=auth_headers(buyer)
        )
        assert response.status_code == 403
        await session.refresh(other)
        assert other.full_name == "Test User"
