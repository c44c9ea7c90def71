"""Background jobs of the waitlist: settle lapsed offers, then offer returned units.

The offer job runs every `offer_interval_seconds` (the safety net): it settles lapsed and
booked offers and queues a run for each showtime with waiting entries and free units. A
run for one showtime is also queued as soon as units of it come back
(`inventory.units_released`, relayed from the outbox: see
`boxoffice.notification.reactions`).
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
    """For the payload's `showtime_id`: offer its free units FIFO. Without one (the
    periodic run): mark booked offers accepted, pass lapsed ones on, close the entries of
    showtimes no longer selling, and queue a run for each showtime with waiting entries and
    free units (a transaction each: see
    `service.offer_released_units`)."""
    settings = get_settings().waitlist
    showtime_id = payload.get("showtime_id")
    if showtime_id is not None:
        offered = await service.offer_released_units(session, settings, uuid.UUID(showtime_id))
        if offered:
            log.info("waitlist_offers", offered=offered, showtime_id=showtime_id)
        return
    accepted, expired = await service.settle_offers(session, settings)
    closed = await service.close_past(session, settings.offer_batch)
    showtimes = await service.showtimes_to_offer(session)
    for waiting in showtimes:
        await offer_soon(session, waiting)
    if accepted or expired or closed or showtimes:
        log.info(
            "waitlist_offers",
            accepted=accepted,
            expired=expired,
            closed=closed,
            queued=len(showtimes),
        )


async def offer_soon(session: AsyncSession, showtime_id: uuid.UUID) -> int:
    """Queue an offer run for one showtime, due now, in the caller's transaction; one already
    queued and not started yet serves. Returns the job id."""
    return await enqueue(
        session, OFFER, {"showtime_id": str(showtime_id)}, max_attempts=1, unless_queued=True
    )


every(get_settings().waitlist.offer_interval_seconds, OFFER)
