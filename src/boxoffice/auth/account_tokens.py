"""Stateless tokens e-mailed to an account: `<user id>.<issued at>.<mac>`.

The mac is an HMAC-SHA256, under the server's secret, of what the token is for, the
account's id, the time it was issued and whatever account state must not have changed
since (for a password reset: the e-mail, the password hash and the token version; for an
e-mail verification: the e-mail). Nothing is stored: a token dies when that state changes,
and the database alone cannot rebuild one (the design of Django's
`PasswordResetTokenGenerator`).
"""

import base64
import hashlib
import hmac
import uuid

from boxoffice.auth.models import User
from boxoffice.config import AuthSettings, get_settings
from boxoffice.notification.email import EmailSender, email_sender


class MalformedToken(ValueError):
    """Not `<hex user id>.<unix time>.<mac>`."""


def _mac(settings: AuthSettings, purpose: str, user: User, issued_at: int, state: list[str]) -> str:
    key = settings.jwt_secret.get_secret_value().encode()
    message = "\n".join([purpose, str(user.id), str(issued_at), *state]).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make(settings: AuthSettings, purpose: str, user: User, issued_at: int, state: list[str]) -> str:
    return f"{user.id.hex}.{issued_at}.{_mac(settings, purpose, user, issued_at, state)}"


def parse(token: str) -> tuple[uuid.UUID, int, str]:
    """(user id, issued at, mac), or `MalformedToken`."""
    try:
        user_hex, issued, mac = token.strip().split(".")
        return uuid.UUID(hex=user_hex), int(issued), mac
    except ValueError as exc:
        raise MalformedToken() from exc


def matches(
    settings: AuthSettings,
    purpose: str,
    user: User,
    issued_at: int,
    mac: str,
    state: list[str],
) -> bool:
    return hmac.compare_digest(mac, _mac(settings, purpose, user, issued_at, state))


def mail_sender() -> EmailSender:
    """The configured e-mail backend, for the jobs that send these tokens (tests swap it)."""
    return email_sender(get_settings().email)
