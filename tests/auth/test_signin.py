"""Register, log in, refresh, sign out: the whole journey through HTTP."""

import asyncio
import hashlib
from collections import Counter
from collections.abc import Coroutine, Sequence
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import AuthSession, RefreshToken, Role, User
from tests.auth.helpers import STRONG_PASSWORD, bearer, login, new_email, register
from tests.factories import PASSWORD, create_user


class TestJourney:
    async def test_register_login_refresh_profile_sessions_password_logout(
        self, client: AsyncClient
    ) -> None:
        email = new_email()
        registered = await register(client, email=email, user_agent="phone-app/1.0")
        assert registered["token_type"] == "bearer"
        assert registered["expires_in"] == 900
        assert registered["user"]["email"] == email
        assert registered["user"]["role"] == "buyer"

        laptop = await login(client, email.upper(), user_agent="laptop-browser")
        refreshed = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": laptop["refresh_token"]}
        )
        assert refreshed.status_code == 200
        laptop = refreshed.json()
        assert laptop["refresh_token"] != registered["refresh_token"]

        profile = await client.get("/api/users/profile", headers=bearer(laptop))
        assert profile.status_code == 200
        assert profile.json()["email"] == email
        me = await client.get("/api/users/me", headers=bearer(laptop))
        assert me.json() == profile.json()

        sessions = (await client.get("/api/auth/sessions", headers=bearer(laptop))).json()
        assert {s["user_agent"] for s in sessions} == {"phone-app/1.0", "laptop-browser"}
        assert [s["current"] for s in sessions if s["user_agent"] == "laptop-browser"] == [True]

        changed = await client.put(
            "/api/users/change-password",
            json={"current_password": STRONG_PASSWORD, "new_password": "a-brand-new-secret-9"},
            headers=bearer(laptop),
        )
        assert changed.status_code == 204
        # The phone's session ended with the password change; the laptop's lives on.
        phone_me = await client.get("/api/users/me", headers=bearer(registered))
        assert phone_me.status_code == 401
        assert phone_me.json()["code"] == "session_revoked"
        assert (await client.get("/api/users/me", headers=bearer(laptop))).status_code == 200

        out = await client.post("/api/auth/logout", headers=bearer(laptop))
        assert out.status_code == 204
        after = await client.get("/api/users/me", headers=bearer(laptop))
        assert after.status_code == 401
        assert after.json()["code"] == "session_revoked"
        stale = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": laptop["refresh_token"]}
        )
        assert stale.status_code == 401
        assert stale.json()["code"] == "invalid_refresh_token"
        await login(client, email, "a-brand-new-secret-9")


class TestRegister:
    async def test_email_is_unique_case_insensitively(self, client: AsyncClient) -> None:
        email = new_email()
        await register(client, email=email)
        response = await client.post(
            "/api/auth/register", json={"email": email.upper(), "password": STRONG_PASSWORD}
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_weak_password_is_refused_with_every_reason(self, client: AsyncClient) -> None:
        response = await client.post(
            "/api/auth/register", json={"email": new_email(), "password": "aaaa"}
        )
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "weak_password"
        assert "must be at least 10 characters long" in body["password_problems"]
        assert "must contain at least 4 different characters" in body["password_problems"]

    async def test_common_password_is_refused(self, client: AsyncClient) -> None:
        response = await client.post(
            "/api/auth/register", json={"email": new_email(), "password": "Password123"}
        )
        assert response.json()["password_problems"] == ["is too common"]

    async def test_organizer_may_register_but_admin_may_not(self, client: AsyncClient) -> None:
        organizer = await register(client, role="organizer")
        assert organizer["user"]["role"] == "organizer"
        response = await client.post(
            "/api/auth/register",
            json={"email": new_email(), "password": STRONG_PASSWORD, "role": "admin"},
        )
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"


class TestLogin:
    async def test_wrong_password_and_unknown_email_look_the_same(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        user = await create_user(session)
        wrong = await client.post(
            "/api/auth/login", json={"email": user.email, "password": "not-the-password"}
        )
        unknown = await client.post(
            "/api/auth/login", json={"email": new_email(), "password": PASSWORD}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"

    async def test_deactivated_user_cannot_sign_in(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        user = await create_user(session, is_active=False)
        response = await client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "account_disabled"

    async def test_login_opens_a_session_with_the_device(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        user = await create_user(session, role=Role.organizer)
        tokens = await login(client, user.email, PASSWORD, user_agent="kiosk/2")
        assert tokens["user"]["role"] == "organizer"
        recorded = await session.scalar(select(AuthSession).where(AuthSession.user_id == user.id))
        assert recorded is not None
        assert recorded.user_agent == "kiosk/2"
        assert recorded.ip == "127.0.0.1"


class TestRefreshRotation:
    async def test_reused_refresh_token_revokes_its_family(self, client: AsyncClient) -> None:
        first = await register(client)
        second = (
            await client.post(
                "/api/auth/refresh-token", json={"refresh_token": first["refresh_token"]}
            )
        ).json()

        reused = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": first["refresh_token"]}
        )
        assert reused.status_code == 401
        assert reused.json()["code"] == "refresh_token_reused"
        # The thief's and the victim's newer tokens are dead too.
        child = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": second["refresh_token"]}
        )
        assert child.status_code == 401
        assert child.json()["code"] == "invalid_refresh_token"
        me = await client.get("/api/users/me", headers=bearer(second))
        assert me.json()["code"] == "session_revoked"

    async def test_reuse_revokes_only_that_family(self, client: AsyncClient) -> None:
        email = new_email()
        first = await register(client, email=email)
        other_device = await login(client, email)
        await client.post("/api/auth/refresh-token", json={"refresh_token": first["refresh_token"]})
        await client.post("/api/auth/refresh-token", json={"refresh_token": first["refresh_token"]})
        assert (await client.get("/api/users/me", headers=bearer(other_device))).status_code == 200

    async def test_unknown_refresh_token_is_refused(self, client: AsyncClient) -> None:
        response = await client.post("/api/auth/refresh-token", json={"refresh_token": "nope"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"

    async def test_access_token_is_not_a_refresh_token(self, client: AsyncClient) -> None:
        tokens = await register(client)
        response = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": tokens["access_token"][:200]}
        )
        assert response.json()["code"] == "invalid_refresh_token"


def _refreshes(
    client: AsyncClient, tokens: dict[str, Any], n: int
) -> list[Coroutine[Any, Any, Response]]:
    """`n` requests trading the same refresh token, not yet sent."""
    return [
        client.post("/api/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]})
        for _ in range(n)
    ]


async def _signed_in_state(
    committed: async_sessionmaker[AsyncSession], user_id: str
) -> tuple[Sequence[RefreshToken], AuthSession]:
    """The user's refresh tokens and their one session, as committed."""
    async with committed() as db:
        rows = (await db.scalars(select(RefreshToken).where(RefreshToken.user_id == user_id))).all()
        auth_session = await db.scalar(select(AuthSession).where(AuthSession.user_id == user_id))
    assert auth_session is not None
    return rows, auth_session


class TestConcurrentRefresh:
    # Each round is one race; the losers' deadlock this guards against came in about one
    # round in five on a slow machine, so several rounds make a regression show.
    ROUNDS = 4

    async def test_exactly_one_of_concurrent_refreshes_wins(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
    ) -> None:
        for _ in range(self.ROUNDS):
            tokens = await register(committing_client)
            responses = await asyncio.gather(*_refreshes(committing_client, tokens, 12))
            statuses = Counter(r.status_code for r in responses)
            assert statuses == {200: 1, 401: 11}, [r.json() for r in responses]
            assert {r.json()["code"] for r in responses if r.status_code == 401} == {
                "refresh_token_reused"
            }
            rows, auth_session = await _signed_in_state(committed, tokens["user"]["id"])
            assert len(rows) == 2  # the original and the one winner's child
            assert sum(1 for r in rows if r.used_at is not None) == 1
            assert all(r.revoked_at is not None for r in rows)
            assert auth_session.revoke_reason == "refresh_reuse"

    async def test_refreshes_racing_a_sign_out_leave_the_session_signed_out(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
    ) -> None:
        """A refresh changes the token, then the session; a sign-out the session, then its
        tokens. Both lock the session first, so neither deadlocks the other and no token
        of the session outlives the sign-out."""
        for _ in range(self.ROUNDS):
            tokens = await register(committing_client)
            refreshes = _refreshes(committing_client, tokens, 6)
            sign_out = committing_client.post("/api/auth/logout", headers=bearer(tokens))
            *refreshed, signed_out = await asyncio.gather(*refreshes, sign_out)
            # Signed out, or found signed out already: a refresh that lost to another
            # revokes the session as a reused token's.
            assert signed_out.status_code == 204 or (
                signed_out.status_code == 401 and signed_out.json()["code"] == "session_revoked"
            ), signed_out.text
            codes = Counter(
                r.status_code if r.status_code == 200 else r.json()["code"] for r in refreshed
            )
            # At most one refresh wins (before the sign-out); the rest find the token spent
            # or its session signed out.
            assert codes[200] <= 1, codes
            assert set(codes) <= {200, "refresh_token_reused", "invalid_refresh_token"}, codes
            rows, auth_session = await _signed_in_state(committed, tokens["user"]["id"])
            assert len(rows) == 1 + codes[200]
            assert all(r.revoked_at is not None for r in rows)
            assert auth_session.revoked_at is not None


class TestConcurrentRegistration:
    async def test_one_email_one_account(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
    ) -> None:
        email = new_email()
        responses = await asyncio.gather(
            *(
                committing_client.post(
                    "/api/auth/register",
                    json={"email": email if i % 2 else email.upper(), "password": STRONG_PASSWORD},
                )
                for i in range(8)
            )
        )
        assert Counter(r.status_code for r in responses) == {201: 1, 409: 7}
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"email_taken"}
        async with committed() as db:
            users = (await db.scalars(select(User).where(User.email == email))).all()
            assert len(users) == 1


class TestRefreshExpiry:
    async def test_expired_refresh_token_is_refused(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        tokens = await register(client)
        await session.execute(update(RefreshToken).values(expires_at=RefreshToken.created_at))
        response = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"

    async def test_refresh_tokens_are_stored_hashed(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        tokens = await register(client)
        stored = (await session.scalars(select(RefreshToken.token_hash))).all()
        assert stored == [hashlib.sha256(tokens["refresh_token"].encode()).digest()]
