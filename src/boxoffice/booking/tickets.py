"""Signed ticket codes: `<ticket id hex>.<HMAC-SHA256 truncated, base64url>`.

Check-in verifies a code offline with the key alone; the id then finds the ticket.
"""

import base64
import hashlib
import hmac
import uuid

from boxoffice.config import Settings

_SIGNATURE_BYTES = 16


def _key(settings: Settings) -> bytes:
    secret = settings.booking.ticket_secret or settings.auth.jwt_secret
    # Derived, so a ticket code never doubles as anything signed with the JWT key itself.
    return hashlib.sha256(b"boxoffice-ticket:" + secret.get_secret_value().encode()).digest()


def _sign(key: bytes, ticket_id: uuid.UUID, unit_id: int) -> str:
    mac = hmac.new(key, f"{ticket_id}:{unit_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:_SIGNATURE_BYTES]).rstrip(b"=").decode()


def ticket_code(settings: Settings, ticket_id: uuid.UUID, unit_id: int) -> str:
    return f"{ticket_id.hex}.{_sign(_key(settings), ticket_id, unit_id)}"


def verify_ticket_code(settings: Settings, code: str, unit_id: int) -> uuid.UUID | None:
    """The ticket id if `code` was signed by us for `unit_id`, else None."""
    ticket_hex, _, signature = code.partition(".")
    try:
        ticket_id = uuid.UUID(hex=ticket_hex)
    except ValueError:
        return None
    expected = _sign(_key(settings), ticket_id, unit_id)
    return ticket_id if hmac.compare_digest(expected, signature) else None
