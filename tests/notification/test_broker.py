"""Every domain event reaches the broker with its id, read back with a real client.

Uses this machine's RabbitMQ (amqp://guest:guest@127.0.0.1:5672/) and NATS
(nats://127.0.0.1:4222); override with BOXOFFICE_TEST_AMQP_URL / BOXOFFICE_TEST_NATS_URL.
"""

import asyncio
import json
import os
import uuid

import aio_pika
import nats
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.config import BrokerSettings
from boxoffice.kit.outbox import Topic, emit
from boxoffice.notification.broker import NatsPublisher, RabbitPublisher, event_publisher
from boxoffice.notification.dispatcher import Dispatcher, InAppChannel
from boxoffice.notification.relay import relay_once
from tests.factories import create_user
from tests.notification.conftest import new_id

AMQP_URL = os.environ.get("BOXOFFICE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
NATS_URL = os.environ.get("BOXOFFICE_TEST_NATS_URL", "nats://127.0.0.1:4222")


class TestRabbitMQ:
    async def test_relayed_event_arrives_with_its_id_as_message_id(
        self, session: AsyncSession, local_sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        settings = BrokerSettings(url=AMQP_URL, exchange=f"boxoffice.test.{uuid.uuid4().hex}")
        publisher = event_publisher(settings)
        assert isinstance(publisher, RabbitPublisher)
        connection = await aio_pika.connect_robust(AMQP_URL)
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, routing_key="booking.*")
            buyer = await create_user(session)
            event = await emit(
                session, Topic.booking_confirmed, new_id(), {"user_id": str(buyer.id)}
            )
            await session.flush()

            await relay_once(local_sessionmaker, Dispatcher([InAppChannel()], publisher))

            message = await asyncio.wait_for(_first(queue), timeout=10)
            await exchange.delete()
        finally:
            await publisher.close()
            await connection.close()
        assert message.message_id == str(event.id)
        assert message.routing_key == "booking.confirmed"
        body = json.loads(message.body)
        assert body["id"] == str(event.id)
        assert body["data"] == {"user_id": str(buyer.id)}


async def _first(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    async with queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            return message
    raise AssertionError("queue closed before a message arrived")


class TestNats:
    async def test_relayed_event_arrives_with_its_id_as_msg_id(
        self, session: AsyncSession, local_sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        prefix = f"boxoffice-test.{uuid.uuid4().hex}"
        publisher = event_publisher(BrokerSettings(url=NATS_URL, subject_prefix=prefix))
        assert isinstance(publisher, NatsPublisher)
        client = await nats.connect(NATS_URL)
        try:
            subscription = await client.subscribe(f"{prefix}.>")
            await client.flush()
            organizer = await create_user(session)
            event = await emit(
                session, Topic.units_released, new_id(), {"organizer_id": str(organizer.id)}
            )
            await session.flush()

            await relay_once(local_sessionmaker, Dispatcher([InAppChannel()], publisher))

            message = await subscription.next_msg(timeout=10)
        finally:
            await publisher.close()
            await client.close()
        assert message.subject == f"{prefix}.inventory.units_released"
        assert message.headers is not None
        assert message.headers["Nats-Msg-Id"] == str(event.id)
        assert json.loads(message.data)["id"] == str(event.id)


class TestConfiguration:
    def test_off_by_default(self) -> None:
        assert event_publisher(BrokerSettings()) is None

    def test_unknown_scheme_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unsupported scheme"):
            event_publisher(BrokerSettings(url="kafka://127.0.0.1:9092"))
