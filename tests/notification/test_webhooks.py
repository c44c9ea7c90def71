import json
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.config import WebhookSettings
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.time import utcnow
from boxoffice.notification.models import WebhookDelivery
from boxoffice.notification.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    sign,
    verify,
)
from tests.factories import create_event, create_user
from tests.notification.conftest import Relay, new_id

Headers = Callable[[User], dict[str, str]]
SECRET = "whsec-0123456789abcdef"


@dataclass
class Receiver:
    """An organizer's endpoint: an ASGI app reached through httpx's transport."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], str]] = field(default_factory=list)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body.decode()))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def sender(receiver: Receiver) -> AsyncIterator[WebhookSender]:
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport) as http:
        yield WebhookSender(
            http, WebhookSettings(retry_base_seconds=30, max_attempts=5, disable_after_gone=3)
        )


async def register(client: AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    payload = {"url": "https://hooks.example.com/boxoffice", "secret": SECRET, **body}
    return await client.post("/api/webhooks", headers=headers, json=payload)


async def make_due(session: AsyncSession) -> None:
    await session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))


class TestSignature:
    def test_signature_is_hmac_sha256_over_timestamp_and_body(self) -> None:
        # Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
        header = sign("key", 1700000000, '{"a":1}')

        assert header == (
            "t=1700000000,v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        )

    def test_receiver_verification_refuses_tampering_and_stale_timestamps(self) -> None:
        now = int(time.time())
        header = sign(SECRET, now, "{}")

        assert verify(SECRET, header, "{}")
        assert not verify(SECRET, header, '{"x":1}')
        assert not verify("other-secret-000000", header, "{}")
        assert not verify(SECRET, sign(SECRET, now - 3600, "{}"), "{}")


class TestEndpoints:
    async def test_register_list_and_delete(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        headers = auth_headers(organizer)

        created = await register(client, headers, topics=["booking.confirmed"])
        listed = (await client.get("/api/webhooks", headers=headers)).json()
        deleted = await client.delete(f"/api/webhooks/{created.json()['id']}", headers=headers)
        after = (await client.get("/api/webhooks", headers=headers)).json()

        assert created.status_code == 201
        assert created.json()["secret"] == SECRET
        assert created.json()["topics"] == ["booking.confirmed"]
        assert [w["id"] for w in listed["items"]] == [created.json()["id"]]
        assert "secret" not in listed["items"][0]
        assert deleted.status_code == 204
        assert after["total"] == 0

    async def test_secret_is_generated_when_omitted(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)

        created = await client.post(
            "/api/webhooks",
            headers=auth_headers(organizer),
            json={"url": "https://hooks.example.com/x"},
        )

        assert len(created.json()["secret"]) >= 32

    async def test_buyers_cannot_register(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)

        response = await register(client, auth_headers(buyer))

        assert response.status_code == 403

    async def test_another_organizers_endpoint_is_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        rival = await create_user(session, role=Role.organizer)
        created = (await register(client, auth_headers(owner))).json()

        for method in ("GET", "DELETE"):
            response = await client.request(
                method, f"/api/webhooks/{created['id']}", headers=auth_headers(rival)
            )
            assert response.status_code == 404
        deliveries = await client.get(
            f"/api/webhooks/{created['id']}/deliveries", headers=auth_headers(rival)
        )
        assert deliveries.status_code == 404

    async def test_admin_registers_for_an_organizer_and_sees_all(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        organizer = await create_user(session, role=Role.organizer)

        created = await register(client, auth_headers(admin), organizer_id=str(organizer.id))
        mine = (await client.get("/api/webhooks", headers=auth_headers(organizer))).json()

        assert created.status_code == 201
        assert created.json()["organizer_id"] == str(organizer.id)
        assert [w["id"] for w in mine["items"]] == [created.json()["id"]]

    async def test_organizers_cannot_register_for_someone_else(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        rival = await create_user(session, role=Role.organizer)

        response = await register(client, auth_headers(rival), organizer_id=str(organizer.id))

        assert response.status_code == 404

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.0.0.5/hook"]
    )
    async def test_internal_urls_are_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, url: str
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)

        response = await register(client, auth_headers(organizer), url=url)

        assert response.status_code == 422
        assert response.json()["code"] == "webhook_url_refused"

    async def test_unknown_topic_is_a_validation_error(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)

        response = await register(client, auth_headers(organizer), topics=["no.such"])

        assert response.status_code == 422


class TestDelivery:
    async def test_signed_delivery_reaches_the_endpoint_and_is_logged(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        receiver: Receiver,
        sender: WebhookSender,
        local_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        headers = auth_headers(organizer)
        endpoint = (await register(client, headers)).json()
        event = await create_event(session, organizer=organizer)
        outbox = await emit(session, Topic.event_published, event.id, {"event_id": str(event.id)})
        await relay()

        sent = await sender.deliver_once(local_sessionmaker)

        [(got_headers, body)] = receiver.received
        assert sent == 1
        assert verify(SECRET, got_headers[SIGNATURE_HEADER.lower()], body)
        assert got_headers[EVENT_ID_HEADER.lower()] == str(outbox.id)
        assert json.loads(body)["id"] == str(outbox.id)
        assert json.loads(body)["topic"] == "event.published"
        log = (
            await client.get(f"/api/webhooks/{endpoint['id']}/deliveries", headers=headers)
        ).json()
        assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log["items"]] == [
            ("delivered", 1, 200)
        ]

    async def test_topic_filter_and_other_organizers_events(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        receiver: Receiver,
        sender: WebhookSender,
        local_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        await register(client, auth_headers(organizer), topics=["booking.confirmed"])
        buyer = await create_user(session)
        await emit(
            session,
            Topic.booking_confirmed,
            new_id(),
            {"user_id": str(buyer.id), "organizer_id": str(organizer.id)},
        )
        await emit(
            session,
            Topic.booking_confirmed,
            new_id(),
            {"user_id": str(buyer.id), "organizer_id": str(other.id)},
        )
        await emit(session, Topic.units_released, new_id(), {"organizer_id": str(organizer.id)})
        await relay()

        await sender.deliver_once(local_sessionmaker)

        assert [json.loads(b)["topic"] for _, b in receiver.received] == ["booking.confirmed"]

    async def test_failed_delivery_is_retried_with_backoff(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        receiver: Receiver,
        sender: WebhookSender,
        local_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        headers = auth_headers(organizer)
        endpoint = (await register(client, headers)).json()
        await emit(session, Topic.units_released, new_id(), {"organizer_id": str(organizer.id)})
        await relay()
        receiver.statuses = [503]

        await sender.deliver_once(local_sessionmaker)
        not_yet = await sender.deliver_once(local_sessionmaker)
        await make_due(session)
        await sender.deliver_once(local_sessionmaker)

        [(_, first), (_, second)] = receiver.received
        assert not_yet == 0
        assert first == second
        [delivery] = (
            await client.get(f"/api/webhooks/{endpoint['id']}/deliveries", headers=headers)
        ).json()["items"]
        assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)

    async def test_endpoint_is_disabled_after_repeated_410(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        receiver: Receiver,
        sender: WebhookSender,
        local_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        headers = auth_headers(organizer)
        endpoint = (await register(client, headers)).json()
        await emit(session, Topic.units_released, new_id(), {"organizer_id": str(organizer.id)})
        await relay()
        receiver.statuses = [410, 410, 410]

        for _ in range(3):
            await sender.deliver_once(local_sessionmaker)
            await make_due(session)
        await emit(session, Topic.units_released, new_id(), {"organizer_id": str(organizer.id)})
        await relay()
        after = await sender.deliver_once(local_sessionmaker)

        state = (await client.get(f"/api/webhooks/{endpoint['id']}", headers=headers)).json()
        log = (
            await client.get(f"/api/webhooks/{endpoint['id']}/deliveries", headers=headers)
        ).json()
        assert after == 0
        assert len(receiver.received) == 3
        assert state["is_active"] is False
        assert state["disabled_at"] is not None
        assert [(d["status"], d["last_status_code"]) for d in log["items"]] == [("failed", 410)]
