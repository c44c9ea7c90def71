"""My devices: list them, sign one out, sign out all the others."""

from httpx import AsyncClient

from tests.auth.helpers import bearer, login, new_email, register


class TestSessions:
    async def test_list_shows_only_my_live_sessions(self, client: AsyncClient) -> None:
        email = new_email()
        phone = await register(client, email=email, user_agent="phone")
        await register(client)  # someone else
        laptop = await login(client, email, user_agent="laptop")
        await client.post("/api/auth/logout", headers=bearer(phone))
        sessions = (await client.get("/api/auth/sessions", headers=bearer(laptop))).json()
        assert [(s["user_agent"], s["current"], s["ip"]) for s in sessions] == [
            ("laptop", True, "127.0.0.1")
        ]
        assert sessions[0]["method"] == "password"

    async def test_revoke_one_of_my_devices(self, client: AsyncClient) -> None:
        email = new_email()
        phone = await register(client, email=email, user_agent="phone")
        laptop = await login(client, email, user_agent="laptop")
        sessions = (await client.get("/api/auth/sessions", headers=bearer(laptop))).json()
        phone_id = next(s["id"] for s in sessions if s["user_agent"] == "phone")

        response = await client.delete(f"/api/auth/sessions/{phone_id}", headers=bearer(laptop))
        assert response.status_code == 204
        assert (await client.get("/api/users/me", headers=bearer(phone))).status_code == 401
        refreshed = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": phone["refresh_token"]}
        )
        assert refreshed.json()["code"] == "invalid_refresh_token"
        assert (await client.get("/api/users/me", headers=bearer(laptop))).status_code == 200

    async def test_cannot_revoke_another_users_session(self, client: AsyncClient) -> None:
        victim = await register(client)
        attacker = await register(client)
        victim_sessions = (await client.get("/api/auth/sessions", headers=bearer(victim))).json()
        response = await client.delete(
            f"/api/auth/sessions/{victim_sessions[0]['id']}", headers=bearer(attacker)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "session_not_found"
        assert (await client.get("/api/users/me", headers=bearer(victim))).status_code == 200

    async def test_revoke_all_other_sessions(self, client: AsyncClient) -> None:
        email = new_email()
        first = await register(client, email=email)
        second = await login(client, email)
        current = await login(client, email, user_agent="current")
        response = await client.delete("/api/auth/sessions", headers=bearer(current))
        assert response.status_code == 204
        for other in (first, second):
            assert (await client.get("/api/users/me", headers=bearer(other))).status_code == 401
        sessions = (await client.get("/api/auth/sessions", headers=bearer(current))).json()
        assert [s["user_agent"] for s in sessions] == ["current"]
