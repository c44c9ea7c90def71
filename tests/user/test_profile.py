"""My profile and my password."""

from httpx import AsyncClient

from tests.auth.helpers import STRONG_PASSWORD, bearer, register


class TestProfile:
    async def test_update_name_and_phone(self, client: AsyncClient) -> None:
        tokens = await register(client)
        response = await client.put(
            "/api/users/profile",
            json={"full_name": "  Grace Hopper ", "phone": "+14155550123"},
            headers=bearer(tokens),
        )
        assert response.status_code == 200
        body = response.json()
        assert body["full_name"] == "Grace Hopper"
        assert body["phone"] == "+14155550123"
        assert body["phone_verified_at"] is None
        assert (await client.get("/api/users/profile", headers=bearer(tokens))).json() == body

    async def test_invalid_phone_is_a_validation_error(self, client: AsyncClient) -> None:
        tokens = await register(client)
        response = await client.put(
            "/api/users/profile", json={"phone": "0123"}, headers=bearer(tokens)
        )
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    async def test_role_cannot_be_changed_through_the_profile(self, client: AsyncClient) -> None:
        tokens = await register(client)
        await client.put("/api/users/profile", json={"role": "admin"}, headers=bearer(tokens))
        me = (await client.get("/api/users/me", headers=bearer(tokens))).json()
        assert me["role"] == "buyer"


class TestChangePassword:
    async def test_wrong_current_password(self, client: AsyncClient) -> None:
        tokens = await register(client)
        response = await client.put(
            "/api/users/change-password",
            json={"current_password": "not-it-at-all", "new_password": "another-good-one-7"},
            headers=bearer(tokens),
        )
        assert response.status_code == 403
        assert response.json()["code"] == "wrong_password"

    async def test_weak_new_password(self, client: AsyncClient) -> None:
        tokens = await register(client)
        response = await client.put(
            "/api/users/change-password",
            json={"current_password": STRONG_PASSWORD, "new_password": "short"},
            headers=bearer(tokens),
        )
        assert response.status_code == 422
        assert response.json()["code"] == "weak_password"

    async def test_old_password_stops_working(self, client: AsyncClient) -> None:
        tokens = await register(client)
        await client.put(
            "/api/users/change-password",
            json={"current_password": STRONG_PASSWORD, "new_password": "another-good-one-7"},
            headers=bearer(tokens),
        )
        response = await client.post(
            "/api/auth/login",
            json={"email": tokens["user"]["email"], "password": STRONG_PASSWORD},
        )
        assert response.json()["code"] == "invalid_credentials"
