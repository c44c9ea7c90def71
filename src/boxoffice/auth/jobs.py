"""Housekeeping of sign-in rows: safe to run at any time, in several copies at once."""

from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import AuthSession, OAuthState, PhoneVerification, RefreshToken
from boxoffice.config import AuthSettings
from boxoffice.kit.time import utcnow

log = structlog.get_logger(__name__)

GRACE = timedelta(days=7)
"""How long dead rows stay for support questions ("why was I signed out?")."""


async def purge_expired(
    session: AsyncSession, settings: AuthSettings, *, now: datetime | None = None
) -> dict[str, int]:
    """Delete sessions, refresh tokens, sign-in requests and phone codes nobody can use."""
    now = now or utcnow()
    cutoff = now - GRACE
    refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_seconds)
    # A session's newest refresh token was issued at its last_seen_at: past that plus the
    # refresh lifetime, no token of the session can work any more.
    sessions = await session.execute(
        delete(AuthSession).where(
            or_(
                AuthSession.revoked_at < cutoff,
                AuthSession.last_seen_at < cutoff - refresh_ttl,
            )
        )
    )
    tokens = await session.execute(delete(RefreshToken).where(RefreshToken.expires_at < cutoff))
    states = await session.execute(delete(OAuthState).where(OAuthState.expires_at < now))
    codes = await session.execute(
        delete(PhoneVerification).where(PhoneVerification.expires_at < cutoff)
    )
    counts = {
        "sessions": sessions.rowcount,  # type: ignore[attr-defined]
        "refresh_tokens": tokens.rowcount,  # type: ignore[attr-defined]
        "oauth_states": states.rowcount,  # type: ignore[attr-defined]
        "phone_codes": codes.rowcount,  # type: ignore[attr-defined]
    }
    log.info("auth_rows_purged", **counts)
    return counts
