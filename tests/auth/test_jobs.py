"""Housekeeping deletes only sign-in rows that can no longer be used."""

from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.jobs import GRACE, purge_expired
from boxoffice.auth.models import AuthSession, OAuthState, RefreshToken
from boxoffice.config import Settings
from boxoffice.kit.time import utcnow
from tests.auth.helpers import bearer, register


class TestPurgeExpired:
    async def test_keeps_live_sessions_and_drops_dead_ones(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        live = await register(client)
        revoked = await register(client)
        await client.post("/api/auth/logout", headers=bearer(revoked))
        long_ago = utcnow() - GRACE - timedelta(days=1)
        await session.execute(
            update(AuthSession)
            .where(AuthSession.revoked_at.is_not(None))
            .values(revoked_at=long_ago)
        )
        session.add(
            OAuthState(
                state_hash=b"x" * 32,
                provider="google",
                nonce="n",
                code_verifier="v",
                expires_at=utcnow() - timedelta(minutes=1),
            )
        )
        await session.flush()

        counts = await purge_expired(session, settings.auth)

        assert counts["sessions"] >= 1
        assert counts["oauth_states"] >= 1
        live_session = await client.get("/api/users/me", headers=bearer(live))
        assert live_session.status_code == 200
        refreshed = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": live["refresh_token"]}
        )
        assert refreshed.status_code == 200
        remaining = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.user_id == revoked["user"]["id"])
        )
        assert remaining == 0

    async def test_idle_sessions_past_the_refresh_lifetime_go(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        idle = await register(client)
        await session.execute(
            update(AuthSession).values(
                last_seen_at=utcnow()
                - timedelta(seconds=settings.auth.refresh_token_ttl_seconds)
                - GRACE
                - timedelta(hours=1)
            )
        )
        await purge_expired(session, settings.auth)
        response = await client.get("/api/users/me", headers=bearer(idle))
        assert response.json()["code"] == "session_revoked"
