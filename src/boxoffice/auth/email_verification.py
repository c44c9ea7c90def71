"""Showing that an account's e-mail address is its own: a link by e-mail, then one call.

Tokens are `account_tokens` bound to the address, so a changed address needs a new one;
they work for `email_verification_ttl_seconds`. A new account is sent one when it
registers (and when an admin corrects its address); Google sign-ins arrive verified. With
`BOXOFFICE_BOOKING_REQUIRE_VERIFIED_EMAIL` set, holds and bookings need a verified address.
"""

import time
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import account_tokens
from boxoffice.auth.errors import (
    EmailAlreadyVerified,
    EmailVerificationTokenExpired,
    EmailVerificationTokenInvalid,
)
from boxoffice.auth.models import User
from boxoffice.config import AuthSettings
from boxoffice.kit.jobs import enqueue, job
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.kit.time import utcnow
from boxoffice.notification.email import OutgoingEmail

log = structlog.get_logger(__name__)

SEND = "auth.send_email_verification"
VERIFICATION = account_tokens.TokenKind(
    purpose="email-verification",
    state=lambda user: [user.email.lower()],
    subject="Confirm your e-mail address for boxoffice",
    action="Confirm your address here",
    api_call="Send it to POST /api/auth/email/verify",
    invalid=EmailVerificationTokenInvalid,
    expired=EmailVerificationTokenExpired,
)


def make_token(settings: AuthSettings, user: User, issued_at: int) -> str:
    return account_tokens.make(settings, VERIFICATION, user, issued_at)


async def queue(session: AsyncSession, user: User) -> None:
    """E-mail `user` a verification link (by the worker, after this transaction commits)."""
    await enqueue(session, SEND, {"user_id": str(user.id), "issued_at": int(time.time())})


async def request_again(
    session: AsyncSession, settings: AuthSettings, limiter: RateLimiter, user: User
) -> None:
    if user.email_verified_at is not None:
        raise EmailAlreadyVerified()
    await enforce(
        limiter,
        f"email-verification:user:{user.id}",
        limit=settings.email_verification_requests_per_user,
        window_seconds=3600,
        what="verification e-mails asked for",
    )
    await queue(session, user)


def verification_email(
    settings: AuthSettings, user: User, token: str, issued_at: int
) -> OutgoingEmail:
    days = max(1, settings.email_verification_ttl_seconds // 86400)
    return account_tokens.email(
        VERIFICATION,
        user,
        token,
        issued_at,
        link_template=settings.email_verification_url,
        closing=f"It works for {days} day(s). If you did not sign up, ignore this e-mail.",
    )


@job(SEND)
async def send_verification_email(session: AsyncSession, payload: dict[str, Any]) -> None:
    """E-mail the link, unless the account is gone or already verified."""
    await account_tokens.send_email(
        session,
        VERIFICATION,
        payload,
        still_wanted=lambda _settings, user, _issued_at: user.email_verified_at is None,
        email=verification_email,
    )


async def verify(session: AsyncSession, settings: AuthSettings, token: str) -> User:
    """Mark the address verified (again: no change) with a token from the e-mail."""
    user = await account_tokens.redeem(
        session, settings, VERIFICATION, token, settings.email_verification_ttl_seconds
    )
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        await session.flush()
        log.info("email_verified", user_id=str(user.id))
    return user
