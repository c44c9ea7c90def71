"""Forgotten passwords: a reset link by e-mail, then a new password.

The reset token is stored nowhere (`account_tokens`): it is bound to the account's e-mail,
password hash and token version. So a token
- works once: the new password changes the hash it was made from;
- stops working when the e-mail changes, when the user signs out everywhere, and
  `password_reset_ttl_seconds` after it was asked for;
- cannot be rebuilt from the database alone: the job that e-mails it holds the account's
  id and the time, nothing secret.

Asking answers the same whether or not an account uses the address, and is rate-limited
per address and per client IP.
"""

import time
import uuid
from html import escape
from typing import Any

import structlog
from sqlalchemy import select
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
from boxoffice.config import AuthSettings, get_settings
from boxoffice.kit.jobs import enqueue, job
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.notification.email import OutgoingEmail

log = structlog.get_logger(__name__)

SEND_RESET_EMAIL = "auth.send_password_reset"
KIND = "password_reset"


PURPOSE = "password-reset"


def _state(user: User) -> list[str]:
    """What a reset token is bound to: used once, it changes the hash."""
    return [user.email.lower(), user.password_hash or "", str(user.token_version)]


def make_token(settings: AuthSettings, user: User, issued_at: int) -> str:
    """The token for `user` as the account is now, asked for at `issued_at` (unix s)."""
    return account_tokens.make(settings, PURPOSE, user, issued_at, _state(user))


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
        log.info("password_reset_not_sent", reason="no active account")
        return
    await enqueue(
        session,
        SEND_RESET_EMAIL,
        {
            "user_id": str(user.id),
            "issued_at": int(time.time()),
            "token_version": user.token_version,
        },
    )
    log.info("password_reset_requested", user_id=str(user.id))


def reset_email(settings: AuthSettings, user: User, token: str, issued_at: int) -> OutgoingEmail:
    minutes = settings.password_reset_ttl_seconds // 60
    if settings.password_reset_url:
        link = settings.password_reset_url.replace("{token}", token)
        how = f"Choose a new password here:\n\n{link}\n"
        how_html = f'<p><a href="{escape(link)}">Choose a new password</a></p>'
    else:
        how = (
            f"Your reset token:\n\n{token}\n\nSend it with your new password to "
            "POST /api/auth/password-reset/confirm.\n"
        )
        how_html = (
            f"<p>Your reset token:</p><p><code>{escape(token)}</code></p>"
            "<p>Send it with your new password to "
            "<code>POST /api/auth/password-reset/confirm</code>.</p>"
        )
    closing = (
        f"It works once, for {minutes} minutes. If you did not ask for this, ignore this "
        "e-mail: your password stays as it is."
    )
    return OutgoingEmail(
        to=user.email,
        subject="Reset your boxoffice password",
        text=f"Hello {user.full_name or user.email},\n\n{how}\n{closing}\n",
        html=(
            '<!doctype html><html><body style="font-family:sans-serif">'
            f"<p>Hello {escape(user.full_name or user.email)},</p>{how_html}"
            f"<p>{escape(closing)}</p></body></html>"
        ),
        # Stable per request: a redelivered job sends a message with the same Message-ID.
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"boxoffice:{KIND}:{user.id}:{issued_at}"),
        user_id=user.id,
        kind=KIND,
    )


@job(SEND_RESET_EMAIL)
async def send_reset_email(session: AsyncSession, payload: dict[str, Any]) -> None:
    """E-mail the token, made now from the account as it is; nothing if the account was
    deactivated, signed out everywhere or the request lapsed since."""
    settings = get_settings().auth
    user = await session.get(User, uuid.UUID(payload["user_id"]))
    issued_at = int(payload["issued_at"])
    if (
        user is None
        or not user.is_active
        or user.token_version != payload.get("token_version")
        or time.time() > issued_at + settings.password_reset_ttl_seconds
    ):
        log.info("password_reset_email_skipped", user_id=payload["user_id"])
        return
    token = make_token(settings, user, issued_at)
    await account_tokens.mail_sender().send(reset_email(settings, user, token, issued_at))
    log.info("password_reset_email_sent", user_id=str(user.id))


async def reset_password(
    session: AsyncSession, settings: AuthSettings, *, token: str, new_password: str
) -> User:
    """Set a new password with a token from the e-mail; every session of the account ends."""
    try:
        user_id, issued_at, mac = account_tokens.parse(token)
    except account_tokens.MalformedToken as exc:
        raise PasswordResetTokenInvalid() from exc
    # Locked: of two uses of one token at once, the second sees the new hash and fails.
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None or not account_tokens.matches(
        settings, PURPOSE, user, issued_at, mac, _state(user)
    ):
        raise PasswordResetTokenInvalid()
    if time.time() > issued_at + settings.password_reset_ttl_seconds:
        raise PasswordResetTokenExpired()
    if not user.is_active or user.deleted_at is not None:
        raise AccountDisabled()
    check_password(settings, new_password, user.email)
    user.password_hash = await hash_password_off_loop(new_password)
    await end_all_sessions(session, user, reason="password_reset")
    log.info("password_reset", user_id=str(user.id))
    return user
