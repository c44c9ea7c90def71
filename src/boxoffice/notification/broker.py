"""Publishes every domain event to a message broker (FastStream: RabbitMQ, NATS or Kafka).

The broker is an optional fan-out to other systems, never a place where truth lives. Each
message carries the outbox event id as its message id (RabbitMQ `message_id`, NATS
`Nats-Msg-Id` header, which JetStream also uses to drop duplicates, Kafka `message-id`
header), so consumers deduplicate redeliveries.
"""

import json
from typing import Any, Protocol

from faststream.kafka import KafkaBroker
from faststream.nats import NatsBroker
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange

from boxoffice.config import BrokerSettings
from boxoffice.kit.outbox import OutboxEvent


def event_message(event: OutboxEvent) -> dict[str, object]:
    """The JSON body published for an outbox event (same shape as webhook bodies)."""
    return {
        "id": str(event.id),
        "topic": event.topic,
        "aggregate_id": event.aggregate_id,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }


class EventPublisher(Protocol):
    async def publish(self, event: OutboxEvent) -> None: ...

    async def close(self) -> None: ...


class _Publisher:
    """A FastStream broker connected on first use (the relay may never publish at all)."""

    broker: Any

    def __init__(self) -> None:
        self._started = False

    async def _connected(self) -> None:
        """Extra set-up once the broker is connected (declaring an exchange, ...)."""

    async def _send(self, event: OutboxEvent) -> None:
        raise NotImplementedError

    async def publish(self, event: OutboxEvent) -> None:
        if not self._started:
            await self.broker.start()
            await self._connected()
            self._started = True
        await self._send(event)

    async def close(self) -> None:
        await self.broker.stop()


class RabbitPublisher(_Publisher):
    """Publishes to a durable topic exchange; the routing key is the topic."""

    def __init__(self, url: str, settings: BrokerSettings) -> None:
        super().__init__()
        self.broker = RabbitBroker(url)
        self.exchange = RabbitExchange(settings.exchange, type=ExchangeType.TOPIC, durable=True)

    async def _connected(self) -> None:
        await self.broker.declare_exchange(self.exchange)

    async def _send(self, event: OutboxEvent) -> None:
        await self.broker.publish(
            json.dumps(event_message(event)),
            exchange=self.exchange,
            routing_key=event.topic,
            message_id=str(event.id),
            correlation_id=str(event.id),
            content_type="application/json",
            persist=True,
            mandatory=False,
        )


class NatsPublisher(_Publisher):
    def __init__(self, url: str, settings: BrokerSettings) -> None:
        super().__init__()
        self.broker = NatsBroker(url)
        self.prefix = settings.subject_prefix

    async def _send(self, event: OutboxEvent) -> None:
        await self.broker.publish(
            json.dumps(event_message(event)),
            subject=f"{self.prefix}.{event.topic}",
            headers={"Nats-Msg-Id": str(event.id), "content-type": "application/json"},
            correlation_id=str(event.id),
        )


def kafka_bootstrap_servers(url: str) -> list[str]:
    """`kafka://host:port[,host:port...]` -> `["host:port", ...]`."""
    servers = [s.strip() for s in url.split("://", 1)[-1].strip("/").split(",") if s.strip()]
    if not servers:
        raise ValueError(f"BOXOFFICE_BROKER_URL: no Kafka bootstrap server in {url!r}")
    return servers


class KafkaPublisher(_Publisher):
    """Publishes to one Kafka topic, keyed by the aggregate id: every event of one booking,
    showtime, ... lands on one partition, in the order the relay published it.

    Headers: `message-id` and `correlation_id` (the event id, to deduplicate on), `topic`
    (the domain topic, e.g. `booking.confirmed`, to filter on without parsing the body).
    """

    def __init__(self, url: str, settings: BrokerSettings) -> None:
        super().__init__()
        self.broker = KafkaBroker(
            kafka_bootstrap_servers(url),
            acks="all",
            enable_idempotence=settings.kafka_idempotence,
            client_id="boxoffice",
        )
        self.topic = settings.kafka_topic

    async def _send(self, event: OutboxEvent) -> None:
        await self.broker.publish(
            json.dumps(event_message(event)),
            topic=self.topic,
            key=event.aggregate_id.encode(),
            headers={
                "message-id": str(event.id),
                "topic": event.topic,
                "content-type": "application/json",
            },
            correlation_id=str(event.id),
        )


def event_publisher(settings: BrokerSettings) -> EventPublisher | None:
    """The publisher the URL's scheme names, or None when no broker is configured."""
    if not settings.url:
        return None
    scheme = settings.url.split("://", 1)[0].lower()
    if scheme in {"amqp", "amqps"}:
        return RabbitPublisher(settings.url, settings)
    if scheme in {"nats", "tls"}:
        return NatsPublisher(settings.url, settings)
    if scheme == "kafka":
        return KafkaPublisher(settings.url, settings)
    raise ValueError(
        f"BOXOFFICE_BROKER_URL: unsupported scheme {scheme!r} (amqp, amqps, nats, tls or kafka)"
    )
