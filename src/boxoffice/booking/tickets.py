"""Signed ticket codes: `<ticket id hex>.<HMAC-SHA256 truncated, base64url>`.

Codes are computed from the key whenever shown, never stored: reading the database does not
give one. Check-in verifies a code offline with the key alone; the id then finds the ticket. The
signature covers the ticket id, its unit and the code's version: a transfer moves the
ticket to a new version, so the giver's copy stops working (version 0 signs as codes did
before versions existed).
"""

import hashlib
import hmac
import io
import uuid
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

import segno
from pydantic import SecretStr

from boxoffice.booking import errors
from boxoffice.booking.models import BookingStatus, TicketStatus
from boxoffice.config import Settings
from boxoffice.kit.signing import hmac_sha256_b64url

_SIGNATURE_BYTES = 16


def ticket_key(settings: Settings) -> bytes:
    """The key that signs every code shown."""
    return _derived(settings.booking.ticket_secret or settings.auth.jwt_secret)


def previous_ticket_keys(settings: Settings) -> list[bytes]:
    """Keys of earlier secrets, which still verify codes signed before a rotation."""
    return [_derived(secret) for secret in settings.booking.ticket_secrets_previous]


def _derived(secret: SecretStr) -> bytes:
    return _key_of(secret.get_secret_value())


@lru_cache(maxsize=16)
def _key_of(secret: str) -> bytes:
    # Derived, so a ticket code never doubles as anything signed with the JWT key itself.
    # Cached: a page of bookings, a manifest or a scan would otherwise hash it per ticket.
    return hashlib.sha256(b"boxoffice-ticket:" + secret.encode()).digest()


def _sign(key: bytes, ticket_id: uuid.UUID, unit_id: int, version: int) -> str:
    message = f"{ticket_id}:{unit_id}" + (f":{version}" if version else "")
    return hmac_sha256_b64url(key, message, length=_SIGNATURE_BYTES)


def ticket_code(settings: Settings, ticket_id: uuid.UUID, unit_id: int, version: int = 0) -> str:
    return signed_code(ticket_key(settings), ticket_id, unit_id, version)


def signed_code(key: bytes, ticket_id: uuid.UUID, unit_id: int, version: int) -> str:
    """`ticket_code` with the key at hand (`ticket_key`): for many tickets at once."""
    return f"{ticket_id.hex}.{_sign(key, ticket_id, unit_id, version)}"


class Coded(Protocol):
    """What a ticket's code is made of: a ticket row, or one just written."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def unit_id(self) -> int: ...
    @property
    def code_version(self) -> int: ...


def current_code(settings: Settings, ticket: Coded) -> str:
    """The code the ticket's holder shows at the door now (at its current version)."""
    return ticket_code(settings, ticket.id, ticket.unit_id, ticket.code_version)


def verify_ticket_code(
    settings: Settings, code: str, unit_id: int, version: int = 0
) -> uuid.UUID | None:
    """The ticket id if `code` was signed by us for `unit_id` at `version` (with the
    current secret or a previous one), else None."""
    ticket_hex, _, signature = code.partition(".")
    try:
        ticket_id = uuid.UUID(hex=ticket_hex)
    except ValueError:
        return None
    for key in [ticket_key(settings), *previous_ticket_keys(settings)]:
        if hmac.compare_digest(_sign(key, ticket_id, unit_id, version), signature):
            return ticket_id
    return None


def superseded_version(settings: Settings, code: str, unit_id: int, version: int) -> int | None:
    """The earlier version `code` was signed at (its ticket was transferred since), if any."""
    for earlier in range(version - 1, -1, -1):
        if verify_ticket_code(settings, code, unit_id, earlier) is not None:
            return earlier
    return None


def check_live(status: TicketStatus, booking_status: BookingStatus) -> None:
    """Refuse a ticket the door or a transfer must not act on: cancelled or refunded
    (`ticket_void`), or not paid yet (`ticket_not_issued`)."""
    if status is TicketStatus.void or booking_status in (
        BookingStatus.cancelled,
        BookingStatus.refunded,
    ):
        raise errors.TicketVoid()
    if status is not TicketStatus.issued:
        raise errors.TicketNotIssued()


class ImageFormat(StrEnum):
    svg = "svg"
    png = "png"

    @property
    def media_type(self) -> str:
        return "image/svg+xml" if self is ImageFormat.svg else "image/png"


def qr_image(code: str, image_format: ImageFormat, scale: int) -> bytes:
    """`code` as a QR code (error correction M, at least; the standard 4-module quiet zone),
    `scale` pixels a module: what a phone shows at the door and any scanner reads."""
    out = io.BytesIO()
    segno.make_qr(code, error="m").save(out, kind=image_format.value, scale=scale, border=4)
    return out.getvalue()
