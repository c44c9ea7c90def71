"""Showing that an account's e-mail address is its own: a link by e-mail, then one call.

Tokens are `account_tokens` bound to the address, so a changed address needs a new one;
they work for `email_verification_ttl_seconds`. A new account is sent one when it
registers (and when an admin corrects its address); Google sign-ins arrive verified. With
`BOXOFFICE_BOOKING_REQUIRE_VERIFIED_EMAIL` set, holds and bookings need a verified address.
"""

import time
import uuid
from html import escape
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import account_tokens
from boxoffice.auth.errors import (
    EmailAlreadyVerified,
    EmailVerificationTokenExpired,
    EmailVerificationTokenInvalid,
)
from boxoffice.auth.models import User
from boxoffice.config import AuthSettings, get_settings
from boxoffice.kit.jobs import enqueue, job
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.kit.time import utcnow
from boxoffice.notification.email import OutgoingEmail

log = structlog.get_logger(__name__)

PURPOSE = "email-verification"
SEND = "auth.send_email_verification"
KIND = "email_verification"


def _state(user: User) -> list[str]:
    return [user.email.lower()]


def make_token(settings: AuthSettings, user: User, issued_at: int) -> str:
    return account_tokens.make(settings, PURPOSE, user, issued_at, _state(user))


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
    if settings.email_verification_url:
        link = settings.email_verification_url.replace("{token}", token)
        how, how_html = (
            f"Confirm it here:\n\n{link}\n",
            f'<p><a href="{escape(link)}">Confirm your address</a></p>',
        )
    else:
        how = f"Your token:\n\n{token}\n\nSend it to POST /api/auth/email/verify.\n"
        how_html = (
            f"<p>Your token:</p><p><code>{escape(token)}</code></p>"
            "<p>Send it to <code>POST /api/auth/email/verify</code>.</p>"
        )
    closing = f"The link works for {days} day(s). If you did not sign up, ignore this e-mail."
    return OutgoingEmail(
        to=user.email,
        subject="Confirm your e-mail address for boxoffice",
        text=f"Hello {user.full_name or user.email},\n\n{how}\n{closing}\n",
        html=(
            '<!doctype html><html><body style="font-family:sans-serif">'
            f"<p>Hello {escape(user.full_name or user.email)},</p>{how_html}"
            f"<p>{escape(closing)}</p></body></html>"
        ),
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"boxoffice:{KIND}:{user.id}:{issued_at}"),
        user_id=user.id,
        kind=KIND,
    )


@job(SEND)
async def send_verification_email(session: AsyncSession, payload: dict[str, Any]) -> None:
    """E-mail the link, unless the account is gone or already verified."""
    settings = get_settings().auth
    user = await session.get(User, uuid.UUID(payload["user_id"]))
    if user is None or not user.is_active or user.email_verified_at is not None:
        log.info("email_verification_skipped", user_id=payload["user_id"])
        return
    issued_at = int(payload["issued_at"])
    token = make_token(settings, user, issued_at)
    await account_tokens.mail_sender().send(verification_email(settings, user, token, issued_at))
    log.info("email_verification_sent", user_id=str(user.id))


async def verify(session: AsyncSession, settings: AuthSettings, token: str) -> User:
    """Mark the address verified (again: no change) with a token from the e-mail."""
    try:
        user_id, issued_at, mac = account_tokens.parse(token)
    except account_tokens.MalformedToken as exc:
        raise EmailVerificationTokenInvalid() from exc
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None or not account_tokens.matches(
        settings, PURPOSE, user, issued_at, mac, _state(user)
    ):
        raise EmailVerificationTokenInvalid()
    if time.time() > issued_at + settings.email_verification_ttl_seconds:
        raise EmailVerificationTokenExpired()
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        await session.flush()
        log.info("email_verified", user_id=str(user.id))
    return user
