"""Fan-out of one domain event: to the work it starts in other domains (reactions), to users
through their channels, to organizers' webhooks, and to the message broker.

Everything runs inside the relay's transaction for the event: rows written here (queued
jobs, in-app notifications, webhook deliveries) commit together with the event's
`delivered_at`, so they are written exactly once; external sends (e-mail, broker) happen at
least once and carry the event id for deduplication.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.config import Settings
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.notification import e_tickets, repository
from boxoffice.notification.broker import EventPublisher, event_message, event_publisher
from boxoffice.notification.email import EmailSender, OutgoingEmail, email_sender
from boxoffice.notification.handlers import HANDLERS, Intent, as_uuid, organizer_of
from boxoffice.notification.models import Channel
from boxoffice.notification.preferences import wants
from boxoffice.notification.reactions import REACTIONS
from boxoffice.notification.templates import Rendered, render


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification for one user, rendered, on its way through one channel."""

    event_id: uuid.UUID
    intent: Intent
    rendered: Rendered
    email: str


class NotificationChannel(Protocol):
    channel: Channel

    async def send(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> None: ...


class InAppChannel:
    channel = Channel.in_app

    async def send(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
        await repository.insert_notifications(
            session,
            [
                {
                    "user_id": d.intent.user_id,
                    "kind": d.intent.kind,
                    "title": d.rendered.title,
                    "body": d.rendered.text,
                    "data": d.intent.data,
                    "source_event_id": d.event_id,
                    # Wall-clock, not transaction time: keeps "newest first" meaningful
                    # for notifications written in one relay pass.
                    "created_at": func.clock_timestamp(),
                }
                for d in deliveries
            ],
        )


class EmailChannel:
    channel = Channel.email

    def __init__(self, sender: EmailSender, settings: Settings) -> None:
        self.sender = sender
        self.settings = settings
        """Signs the ticket codes an e-mail encloses."""

    async def send(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            rendered, attachments = await e_tickets.enclose(
                session, d.intent, d.rendered, self.settings
            )
            await self.sender.send(
                OutgoingEmail(
                    to=d.email,
                    subject=rendered.title,
                    text=rendered.text,
                    html=rendered.html,
                    event_id=d.event_id,
                    user_id=d.intent.user_id,
                    kind=d.intent.kind.value,
                    attachments=attachments,
                )
            )


# Internal topics that are not organizers' business.
_NOT_FOR_WEBHOOKS = {Topic.notification_pushed.value, Topic.tickets_requested.value}


async def queue_webhooks(session: AsyncSession, event: OutboxEvent) -> None:
    """Log one pending delivery per matching endpoint of the event's organizer; the webhook
    sender delivers (and retries) them on its own schedule."""
    if event.topic in _NOT_FOR_WEBHOOKS:
        return
    organizer_id = await organizer_of(session, event)
    if organizer_id is None:
        return
    endpoints = await repository.active_endpoints_for(session, organizer_id, event.topic)
    body = json.dumps(event_message(event), separators=(",", ":"), sort_keys=True)
    await repository.insert_webhook_deliveries(
        session,
        [
            {"endpoint_id": e.id, "event_id": event.id, "topic": event.topic, "body": body}
            for e in endpoints
        ],
    )


def _rendered(intent: Intent, zones: dict[uuid.UUID, str]) -> Rendered:
    """The intent's wording, its instants in the time zone of its showtime's venue."""
    showtime_id = as_uuid(intent.data.get("showtime_id"))
    return render(intent.kind, intent.data, zones.get(showtime_id) if showtime_id else None)


class Dispatcher:
    """Hands an outbox event to its handler, then to every channel and sink."""

    def __init__(
        self,
        channels: Sequence[NotificationChannel],
        publisher: EventPublisher | None = None,
    ) -> None:
        self.channels = channels
        self.publisher = publisher

    @classmethod
    def from_settings(cls, settings: Settings) -> "Dispatcher":
        return cls(
            [InAppChannel(), EmailChannel(email_sender(settings.email), settings)],
            event_publisher(settings.broker),
        )

    async def dispatch(self, session: AsyncSession, event: OutboxEvent) -> None:
        reaction = REACTIONS.get(event.topic)
        if reaction is not None:
            await reaction(session, event)
        handler = HANDLERS.get(event.topic)
        intents = await handler(session, event) if handler else []
        if intents:
            await self._notify(session, event, intents)
        await queue_webhooks(session, event)
        if self.publisher is not None:
            await self.publisher.publish(event)

    async def _notify(
        self, session: AsyncSession, event: OutboxEvent, intents: list[Intent]
    ) -> None:
        users = await repository.recipients(session, {i.user_id for i in intents})
        zones = await repository.showtime_time_zones(
            session, {s for i in intents if (s := as_uuid(i.data.get("showtime_id")))}
        )
        prepared = [
            (Delivery(event.id, intent, _rendered(intent, zones), user[0]), user[1])
            for intent in intents
            if (user := users.get(intent.user_id)) is not None
        ]
        for channel in self.channels:
            deliveries = [
                delivery
                for delivery, stored in prepared
                if wants(stored, delivery.intent.kind, channel.channel)
            ]
            if deliveries:
                await channel.send(session, deliveries)

    async def close(self) -> None:
        if self.publisher is not None:
            await self.publisher.close()
