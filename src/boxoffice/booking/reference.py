"""A booking's reference: the first 8 hex digits of its id, upper case (`1A2B3C4D`).

What e-mails and the app show a buyer, and what they read out at a box office. Short, so
not unique: among some 65,000 bookings two will likely share one. A lookup by reference
therefore answers a list (narrowed by who may see what), which staff tell apart by buyer,
event and date; the booking id stays the key.
"""

import uuid


def of(booking_id: uuid.UUID) -> str:
    return booking_id.hex[:8].upper()


def bounds(reference: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids that have `reference`: one range of the primary key (ids compare bytewise)."""
    prefix = reference.lower()
    return uuid.UUID(prefix + "0" * 24), uuid.UUID(prefix + "f" * 24)
