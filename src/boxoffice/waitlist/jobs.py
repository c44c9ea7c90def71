"""Background jobs of the waitlist: settle lapsed offers, then offer returned units.

The offer job runs every `offer_interval_seconds` over every showtime (the safety net), and
is queued for one showtime as soon as units of it come back (`inventory.units_released`,
relayed from the outbox: see `boxoffice.notification.reactions`).
"""

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.config import get_settings
from boxoffice.kit.jobs import enqueue, every, job
from boxoffice.waitlist import service

log = structlog.get_logger(__name__)

OFFER = "waitlist.offer_released_units"


@job(OFFER)
async def offer_released_units(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Mark booked offers accepted, pass lapsed ones on, offer free units FIFO (of the
    payload's `showtime_id` only, when it names one)."""
    settings = get_settings().waitlist
    showtime_id = payload.get("showtime_id")
    accepted, expired = await service.settle_offers(session, settings)
    offered = await service.offer_released_units(
        session, settings, showtime_id=uuid.UUID(showtime_id) if showtime_id else None
    )
    if accepted or expired or offered:
        log.info(
            "waitlist_offers",
            accepted=accepted,
            expired=expired,
            offered=offered,
            showtime_id=showtime_id,
        )


async def offer_soon(session: AsyncSession, showtime_id: uuid.UUID) -> int:
    """Queue an offer run for one showtime, due now, in the caller's transaction; one already
    queued and not started yet serves. Returns the job id."""
    return await enqueue(
        session, OFFER, {"showtime_id": str(showtime_id)}, max_attempts=1, unless_queued=True
    )


every(get_settings().waitlist.offer_interval_seconds, OFFER)
