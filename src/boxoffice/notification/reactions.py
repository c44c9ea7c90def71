"""Work a domain event starts elsewhere: topic -> a reaction that queues it.

Reactions run inside the relay's transaction for the event, like the in-app notifications:
what they queue commits together with the event's `delivered_at`, so it is queued once per
delivery. They only queue work (jobs); the work itself runs in the worker.
"""

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.waitlist.jobs import offer_soon

Reaction = Callable[[AsyncSession, OutboxEvent], Awaitable[None]]


async def _offer_returned_units(session: AsyncSession, event: OutboxEvent) -> None:
    """Units of a showtime came back: offer them to its waitlist now, not at the next
    periodic offer run."""
    showtime_id = event.payload.get("showtime_id") or event.aggregate_id
    await offer_soon(session, uuid.UUID(str(showtime_id)))


REACTIONS: dict[str, Reaction] = {
    Topic.units_released: _offer_returned_units,
}
