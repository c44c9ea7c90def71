"""Stateless tokens e-mailed to an account: `<user id>.<issued at>.<mac>`.

The mac is an HMAC-SHA256, under the server's secret, of what the token is for, the
account's id, the time it was issued and whatever account state must not have changed
since (for a password reset: the e-mail, the password hash and the token version; for an
e-mail verification: the e-mail). Nothing is stored: a token dies when that state changes,
and the database alone cannot rebuild one (the design of Django's
`PasswordResetTokenGenerator`). The jobs that e-mail them hold the account's id and the
time, nothing secret.
"""

import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.config import AuthSettings, get_settings
from boxoffice.kit.errors import BoxofficeError
from boxoffice.kit.signing import hmac_sha256_b64url
from boxoffice.notification.email import EmailSender, OutgoingEmail, email_sender, token_email

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TokenKind:
    purpose: str
    """What the token is for, signed with it: one kind's token is no other kind's."""
    state: Callable[[User], list[str]]
    """The account state the token is bound to."""
    subject: str
    action: str
    """The link's words, e.g. "Choose a new password"."""
    api_call: str
    """What to do with the bare token when no link is configured."""
    invalid: type[BoxofficeError]
    expired: type[BoxofficeError]


def _mac(settings: AuthSettings, kind: TokenKind, user: User, issued_at: int) -> str:
    key = settings.jwt_secret.get_secret_value().encode()
    message = "\n".join([kind.purpose, str(user.id), str(issued_at), *kind.state(user)])
    return hmac_sha256_b64url(key, message)


def make(settings: AuthSettings, kind: TokenKind, user: User, issued_at: int) -> str:
    """The token for `user` as the account is now, issued at `issued_at` (unix seconds)."""
    return f"{user.id.hex}.{issued_at}.{_mac(settings, kind, user, issued_at)}"


async def redeem(
    session: AsyncSession, settings: AuthSettings, kind: TokenKind, token: str, ttl: int
) -> User:
    """The token's account, its row locked (of two uses at once, the second sees what the
    first changed); `kind.invalid` for a malformed, forged or stale token, `kind.expired`
    past `ttl` seconds."""
    try:
        user_hex, issued, mac = token.strip().split(".")
        user_id, issued_at = uuid.UUID(hex=user_hex), int(issued)
    except ValueError as exc:
        raise kind.invalid() from exc
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None or not hmac.compare_digest(mac, _mac(settings, kind, user, issued_at)):
        raise kind.invalid()
    if time.time() > issued_at + ttl:
        raise kind.expired()
    return user


def email(
    kind: TokenKind,
    user: User,
    token: str,
    issued_at: int,
    *,
    link_template: str | None,
    closing: str,
) -> OutgoingEmail:
    """The e-mail carrying `token`: a link to the app's page when `link_template` (with
    `{token}`) is configured, else the token and the API call to send it to."""
    name = user.full_name or user.email
    return token_email(
        to=user.email,
        subject=kind.subject,
        opening=f"Hello {name},",
        opening_html=f"Hello {escape(name)},",
        token=token,
        link_template=link_template,
        action=kind.action,
        api_call=kind.api_call,
        closing=closing,
        # Stable per request: a redelivered job sends a message with the same Message-ID.
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"boxoffice:{kind.purpose}:{user.id}:{issued_at}"),
        user_id=user.id,
        kind=kind.purpose.replace("-", "_"),
    )


async def send_email(
    session: AsyncSession,
    kind: TokenKind,
    payload: dict[str, Any],
    *,
    still_wanted: Callable[[AuthSettings, User, int], bool],
    email: Callable[[AuthSettings, User, str, int], OutgoingEmail],
) -> None:
    """The body of the jobs that e-mail a token: the job holds the account's id and the
    time it was asked for; the token is made now, from the account as it is, and sent,
    unless the account is gone or disabled or `still_wanted` says the request lapsed."""
    settings = get_settings().auth
    if payload.get("user_id") is None:  # asked for an address no active account uses
        log.info("account_token_email_skipped", purpose=kind.purpose, user_id=None)
        return
    user = await session.get(User, uuid.UUID(payload["user_id"]))
    issued_at = int(payload["issued_at"])
    if user is None or not user.is_active or not still_wanted(settings, user, issued_at):
        log.info("account_token_email_skipped", purpose=kind.purpose, user_id=payload["user_id"])
        return
    token = make(settings, kind, user, issued_at)
    await mail_sender().send(email(settings, user, token, issued_at))
    log.info("account_token_email_sent", purpose=kind.purpose, user_id=str(user.id))


def mail_sender() -> EmailSender:
    """The configured e-mail backend, for the jobs that send these tokens (tests swap it)."""
    return email_sender(get_settings().email)
