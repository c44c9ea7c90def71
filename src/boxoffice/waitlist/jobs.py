"""Background jobs of the waitlist: settle lapsed offers, then offer returned units."""

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.config import get_settings
from boxoffice.kit.jobs import every, job
from boxoffice.waitlist import service

log = structlog.get_logger(__name__)

OFFER = "waitlist.offer_released_units"


@job(OFFER)
async def offer_released_units(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Mark booked offers accepted, pass lapsed ones on, offer free units FIFO."""
    settings = get_settings().waitlist
    accepted, expired = await service.settle_offers(session, settings)
    offered = await service.offer_released_units(session, settings)
    if accepted or expired or offered:
        log.info("waitlist_offers", accepted=accepted, expired=expired, offered=offered)


every(get_settings().waitlist.offer_interval_seconds, OFFER)
