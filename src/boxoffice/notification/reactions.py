"""Work a domain event starts elsewhere: topic -> a reaction that queues it.

Reactions run inside the relay's transaction for the event, like the in-app notifications:
what they queue commits together with the event's `delivered_at`, so it is queued once per
delivery. They queue work (jobs), which runs in the worker, or reset the notification
domain's own bookkeeping.
"""

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.notification.repository import forget_reminder
from boxoffice.waitlist.jobs import offer_soon

Reaction = Callable[[AsyncSession, OutboxEvent], Awaitable[None]]


async def _offer_returned_units(session: AsyncSession, event: OutboxEvent) -> None:
    """Units of a showtime came back: offer them to its waitlist now, not at the next
    periodic offer run."""
    showtime_id = event.payload.get("showtime_id") or event.aggregate_id
    await offer_soon(session, uuid.UUID(str(showtime_id)))


async def _remind_at_new_time(session: AsyncSession, event: OutboxEvent) -> None:
    """A showtime moved: forget that its holders were reminded, so the reminder run
    reminds them again before the new start."""
    if event.payload.get("rescheduled"):
        showtime_id = uuid.UUID(str(event.payload.get("showtime_id") or event.aggregate_id))
        await forget_reminder(session, showtime_id)


REACTIONS: dict[str, Reaction] = {
    Topic.units_released: _offer_returned_units,
    Topic.showtime_changed: _remind_at_new_time,
}
