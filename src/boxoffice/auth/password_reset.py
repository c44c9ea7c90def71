"""Forgotten passwords: a reset link by e-mail, then a new password.

The reset token is stored nowhere (`account_tokens`): it is bound to the account's e-mail,
password hash and token version. So a token
- works once: the new password changes the hash it was made from;
- stops working when the e-mail changes, when the user signs out everywhere, and
  `password_reset_ttl_seconds` after it was asked for;
- cannot be rebuilt from the database alone: the job that e-mails it holds the account's
  id and the time, nothing secret.

Asking answers the same whether or not an account uses the address, makes the same writes
(a job for nobody when none does), and is rate-limited per address and per client IP.
"""

import time
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import account_tokens, repository
from boxoffice.auth.errors import (
    AccountDisabled,
    PasswordResetTokenExpired,
    PasswordResetTokenInvalid,
)
from boxoffice.auth.models import User
from boxoffice.auth.security import hash_password_off_loop
from boxoffice.auth.service import check_password, end_all_sessions
from boxoffice.config import AuthSettings
from boxoffice.kit.jobs import enqueue, job
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.kit.time import utcnow
from boxoffice.notification.email import OutgoingEmail

log = structlog.get_logger(__name__)

SEND_RESET_EMAIL = "auth.send_password_reset"


RESET = account_tokens.TokenKind(
    purpose="password-reset",
    # Used once, the token has changed the hash it is bound to.
    state=lambda user: [user.email.lower(), user.password_hash or "", str(user.token_version)],
    subject="Reset your boxoffice password",
    action="Choose a new password here",
    api_call="Send it with your new password to POST /api/auth/password-reset/confirm",
    invalid=PasswordResetTokenInvalid,
    expired=PasswordResetTokenExpired,
)


def make_token(settings: AuthSettings, user: User, issued_at: int) -> str:
    """The token for `user` as the account is now, asked for at `issued_at` (unix s)."""
    return account_tokens.make(settings, RESET, user, issued_at)


async def request_reset(
    session: AsyncSession,
    settings: AuthSettings,
    limiter: RateLimiter,
    *,
    email: str,
    ip: str | None,
) -> None:
    """Queue the reset e-mail if an active account uses `email`; say nothing either way."""
    window = settings.password_reset_window_seconds
    await enforce(
        limiter,
        f"password-reset:email:{email.lower()}",
        limit=settings.password_reset_requests_per_email,
        window_seconds=window,
        what="password resets asked for this address",
    )
    if ip:
        await enforce(
            limiter,
            f"password-reset:ip:{ip}",
            limit=settings.password_reset_requests_per_ip,
            window_seconds=window,
            what="password resets asked from this address",
        )
    user = await repository.get_user_by_email(session, email)
    if user is None or not user.is_active or user.deleted_at is not None:
        user = None
    # A job either way, one for nobody (which does nothing) when no active account uses the
    # address: the request makes the same writes, so its timing does not tell the two apart.
    await enqueue(
        session,
        SEND_RESET_EMAIL,
        {
            "user_id": None if user is None else str(user.id),
            "issued_at": int(time.time()),
            "token_version": None if user is None else user.token_version,
        },
    )
    log.info("password_reset_requested", user_id=None if user is None else str(user.id))


def reset_email(settings: AuthSettings, user: User, token: str, issued_at: int) -> OutgoingEmail:
    minutes = settings.password_reset_ttl_seconds // 60
    return account_tokens.email(
        RESET,
        user,
        token,
        issued_at,
        link_template=settings.password_reset_url,
        closing=f"It works once, for {minutes} minutes. If you did not ask for this, ignore "
        "this e-mail: your password stays as it is.",
    )


@job(SEND_RESET_EMAIL)
async def send_reset_email(session: AsyncSession, payload: dict[str, Any]) -> None:
    """E-mail the token, made now from the account as it is; nothing if the account was
    deactivated, signed out everywhere or the request lapsed since."""
    await account_tokens.send_email(
        session,
        RESET,
        payload,
        still_wanted=lambda settings, user, issued_at: (
            user.token_version == payload.get("token_version")
            and time.time() <= issued_at + settings.password_reset_ttl_seconds
        ),
        email=reset_email,
    )


async def reset_password(
    session: AsyncSession, settings: AuthSettings, *, token: str, new_password: str
) -> User:
    """Set a new password with a token from the e-mail; every session of the account ends."""
    user = await account_tokens.redeem(
        session, settings, RESET, token, settings.password_reset_ttl_seconds
    )
    if not user.is_active or user.deleted_at is not None:
        raise AccountDisabled()
    check_password(settings, new_password, user.email)
    user.password_hash = await hash_password_off_loop(new_password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the token came through the address
    await end_all_sessions(session, user, reason="password_reset")
    log.info("password_reset", user_id=str(user.id))
    return user
