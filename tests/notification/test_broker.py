"""Every domain event reaches the broker with its id, read back with a real client.

Uses this machine's RabbitMQ (amqp://guest:guest@127.0.0.1:5672/) and NATS
(nats://127.0.0.1:4222); override with BOXOFFICE_TEST_AMQP_URL / BOXOFFICE_TEST_NATS_URL.
Kafka: a Tansu broker started for the session (see kafka_broker.py), or the server
BOXOFFICE_TEST_KAFKA_URL names (`kafka://host:port`). Tansu refuses aiokafka's idempotent
producer handshake (InitProducerId v0), so the producer is idempotent only against a server
named there.
"""

import asyncio
import json
import os
import uuid
from collections import defaultdict

import aio_pika
import nats
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.config import BrokerSettings
from boxoffice.kit.outbox import OutboxEvent, Topic, emit
from boxoffice.notification.broker import (
    KafkaPublisher,
    NatsPublisher,
    RabbitPublisher,
    event_publisher,
    kafka_bootstrap_servers,
)
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


KAFKA_IDEMPOTENCE = bool(os.environ.get("BOXOFFICE_TEST_KAFKA_URL"))


class TestKafka:
    async def test_relayed_events_arrive_keyed_by_aggregate_with_their_ids(
        self,
        session: AsyncSession,
        local_sessionmaker: async_sessionmaker[AsyncSession],
        kafka_url: str,
    ) -> None:
        kafka_topic = f"boxoffice-test-{uuid.uuid4().hex}"
        publisher = event_publisher(
            BrokerSettings(
                url=kafka_url, kafka_topic=kafka_topic, kafka_idempotence=KAFKA_IDEMPOTENCE
            )
        )
        assert isinstance(publisher, KafkaPublisher)
        buyer, organizer = await create_user(session), await create_user(session)
        booking_id, showtime_id = new_id(), new_id()
        dispatcher = Dispatcher([InAppChannel()], publisher)
        try:
            confirmed = await emit(
                session, Topic.booking_confirmed, booking_id, {"user_id": str(buyer.id)}
            )
            released = await emit(
                session, Topic.units_released, showtime_id, {"organizer_id": str(organizer.id)}
            )
            await session.flush()
            await relay_once(local_sessionmaker, dispatcher)
            cancelled = await emit(
                session, Topic.booking_cancelled, booking_id, {"user_id": str(buyer.id)}
            )
            await session.flush()
            await relay_once(local_sessionmaker, dispatcher)
        finally:
            await publisher.close()
        events = [confirmed, released, cancelled]
        outcome = (
            await session.execute(
                select(OutboxEvent.delivered_at.is_not(None), OutboxEvent.last_error).where(
                    OutboxEvent.id.in_([e.id for e in events])
                )
            )
        ).all()
        assert outcome == [(True, None)] * 3

        records = await asyncio.wait_for(_read_kafka(kafka_url, kafka_topic, 3), timeout=30)

        by_id = {dict(r.headers)["message-id"].decode(): r for r in records}
        assert set(by_id) == {str(e.id) for e in events}
        for event in events:
            record = by_id[str(event.id)]
            headers = dict(record.headers)
            assert record.key == event.aggregate_id.encode()
            assert headers["correlation_id"] == str(event.id).encode()
            assert headers["topic"] == event.topic.encode()
            assert headers["content-type"] == b"application/json"
            body = json.loads(record.value)
            assert body["id"] == str(event.id)
            assert body["topic"] == event.topic
            assert body["aggregate_id"] == event.aggregate_id
            assert body["data"] == event.payload
        partitions: dict[int, list[str]] = defaultdict(list)
        for record in sorted(records, key=lambda r: (r.partition, r.offset)):
            partitions[record.partition].append(dict(record.headers)["message-id"].decode())
        # One aggregate, one partition, in the order the relay published its events.
        [same_booking] = [ids for ids in partitions.values() if str(confirmed.id) in ids]
        assert [i for i in same_booking if i != str(released.id)] == [
            str(confirmed.id),
            str(cancelled.id),
        ]


async def _read_kafka(url: str, topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap_servers(url),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        while len(records) < count:
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


class TestConfiguration:
    def test_off_by_default(self) -> None:
        assert event_publisher(BrokerSettings()) is None

    def test_unknown_scheme_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unsupported scheme 'mqtt'"):
            event_publisher(BrokerSettings(url="mqtt://127.0.0.1:1883"))

    def test_kafka_url_names_the_bootstrap_servers(self) -> None:
        assert kafka_bootstrap_servers("kafka://k1:9092,k2:9093/") == ["k1:9092", "k2:9093"]
        assert isinstance(
            event_publisher(BrokerSettings(url="kafka://127.0.0.1:9092")), KafkaPublisher
        )

    def test_kafka_url_without_a_server_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no Kafka bootstrap server"):
            event_publisher(BrokerSettings(url="kafka://"))
