"""Background jobs of the booking domain."""

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

import boxoffice.booking.transfer  # noqa: F401 - registers the transfer offer e-mail job
from boxoffice.booking import service
from boxoffice.config import get_settings
from boxoffice.kit.jobs import every, job

log = structlog.get_logger(__name__)

SWEEP = "booking.sweep_expired"


@job(SWEEP)
async def sweep_expired(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Record lapsed holds and pending bookings as expired and free what they still held.

    Correctness never waits for this (claims treat lapsed holds as free); it keeps the
    tables truthful for listings and analytics and announces released units.
    """
    holds, bookings = await service.sweep(session, batch=int(payload.get("batch", 500)))
    if holds or bookings:
        log.info("expired_swept", holds=holds, bookings=bookings)


every(get_settings().booking.sweep_interval_seconds, SWEEP)
