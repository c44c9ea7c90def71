import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.kit.outbox import OutboxEvent, Topic, emit
from boxoffice.kit.time import utcnow
from boxoffice.notification.dispatcher import Dispatcher, InAppChannel
from boxoffice.notification.models import Notification
from boxoffice.notification.relay import backoff, relay_once
from tests.factories import create_user
from tests.notification.conftest import RecordingEmailSender, Relay, new_id

BOOKING_TOPICS = [
    (Topic.booking_confirmed, "booking_confirmed", "Booking confirmed: Hamlet"),
    (Topic.booking_cancelled, "booking_cancelled", "Booking cancelled: Hamlet"),
    (Topic.booking_expired, "booking_expired", "Booking expired: Hamlet"),
    (Topic.payment_failed, "payment_failed", "Payment failed: Hamlet"),
    (Topic.refund_issued, "refund_issued", "Refund issued: Hamlet"),
    (Topic.waitlist_offer_made, "waitlist_offer", "Seats available: Hamlet"),
]


async def notifications_of(session: AsyncSession, user_id: uuid.UUID) -> list[Notification]:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def outbox_row(session: AsyncSession, event_id: uuid.UUID) -> OutboxEvent:
    row = await session.scalar(
        select(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


class TestBookingTopics:
    @pytest.mark.parametrize(("topic", "kind", "title"), BOOKING_TOPICS)
    async def test_user_in_payload_is_notified_in_app_and_by_email(
        self,
        session: AsyncSession,
        relay: Relay,
        outbox_sender: RecordingEmailSender,
        topic: Topic,
        kind: str,
        title: str,
    ) -> None:
        buyer = await create_user(session)
        event = await emit(
            session,
            topic,
            new_id(),
            {
                "user_id": str(buyer.id),
                "booking_reference": "BX-42",
                "event_title": "Hamlet",
                "amount_minor": 5000,
                "currency": "EUR",
                "ticket_count": 2,
            },
        )

        await relay()

        [notification] = await notifications_of(session, buyer.id)
        assert notification.kind == kind
        assert notification.title == title
        assert notification.source_event_id == event.id
        [email] = outbox_sender.to(buyer.email)
        assert email.subject == title
        assert email.event_id == event.id

    async def test_amount_is_rendered_from_minor_units(
        self, session: AsyncSession, relay: Relay
    ) -> None:
        buyer = await create_user(session)
        await emit(
            session,
            Topic.refund_issued,
            new_id(),
            {"user_id": str(buyer.id), "amount_minor": 1250, "currency": "USD"},
        )

        await relay()

        [notification] = await notifications_of(session, buyer.id)
        assert "12.50 USD" in notification.body


class TestAtLeastOnce:
    async def test_redelivery_does_not_duplicate_in_app_notifications(
        self, session: AsyncSession, relay: Relay, outbox_sender: RecordingEmailSender
    ) -> None:
        buyer = await create_user(session)
        event = await emit(session, Topic.booking_confirmed, new_id(), {"user_id": str(buyer.id)})
        await relay()
        # As if the relay had died after sending but before its commit.
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event.id).values(delivered_at=None)
        )

        await relay()

        assert len(await notifications_of(session, buyer.id)) == 1
        assert [e.event_id for e in outbox_sender.sent] == [event.id, event.id]

    async def test_delivered_events_are_not_sent_again(
        self, session: AsyncSession, relay: Relay, outbox_sender: RecordingEmailSender
    ) -> None:
        buyer = await create_user(session)
        await emit(session, Topic.booking_confirmed, new_id(), {"user_id": str(buyer.id)})
        await relay()

        claimed = await relay()

        assert claimed == 0
        assert len(outbox_sender.sent) == 1

    async def test_failure_is_recorded_and_retried_later_without_blocking_others(
        self, session: AsyncSession, relay: Relay
    ) -> None:
        buyer = await create_user(session)
        broken = await emit(session, Topic.booking_confirmed, new_id(), {"no": "user"})
        fine = await emit(session, Topic.booking_confirmed, new_id(), {"user_id": str(buyer.id)})
        before = utcnow()

        await relay()

        failed, delivered = await outbox_row(session, broken.id), await outbox_row(session, fine.id)
        assert failed.delivered_at is None
        assert failed.attempts == 1
        assert failed.last_error is not None
        assert "user_id" in failed.last_error
        assert failed.next_attempt_at is not None
        assert failed.next_attempt_at >= before + timedelta(seconds=2)
        assert delivered.delivered_at is not None
        assert len(await notifications_of(session, buyer.id)) == 1

    async def test_failed_event_waits_for_its_backoff(
        self, session: AsyncSession, relay: Relay
    ) -> None:
        broken = await emit(session, Topic.booking_confirmed, new_id(), {"no": "user"})
        await relay()

        claimed = await relay()

        assert claimed == 0
        assert (await outbox_row(session, broken.id)).attempts == 1

    def test_backoff_doubles_and_is_capped(self) -> None:
        delays = [backoff(n, 2.0, 60.0).total_seconds() for n in range(1, 8)]

        assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


class CountingDispatcher(Dispatcher):
    """Counts dispatches per event while it holds the event, so overlap would show."""

    def __init__(self) -> None:
        super().__init__([InAppChannel()])
        self.seen: list[uuid.UUID] = []

    async def dispatch(self, session: AsyncSession, event: OutboxEvent) -> None:
        self.seen.append(event.id)
        await asyncio.sleep(0)  # let the other relays run while this event is locked
        await super().dispatch(session, event)


class TestConcurrentRelays:
    async def test_several_relays_deliver_each_event_once(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            users = [await create_user(session) for _ in range(5)]
            for i in range(60):
                await emit(
                    session,
                    Topic.booking_confirmed,
                    new_id(),
                    {"user_id": str(users[i % 5].id)},
                )
            await session.commit()
        dispatcher = CountingDispatcher()

        async def drain() -> None:
            while await relay_once(committed, dispatcher, batch=7):
                pass

        await asyncio.gather(*(drain() for _ in range(4)))

        async with committed() as session:
            pending = await session.scalar(
                select(func.count()).where(OutboxEvent.delivered_at.is_(None))
            )
            notifications = await session.scalar(select(func.count(Notification.id)))
        assert pending == 0
        assert notifications == 60
        assert len(dispatcher.seen) == 60
        assert len(set(dispatcher.seen)) == 60
