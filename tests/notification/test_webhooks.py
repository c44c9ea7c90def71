import json
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
from boxoffice.notification.models import WebhookDelivery, WebhookEndpoint
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


NEW_SECRET = "whsec-fedcba9876543210"


@dataclass
class Hooked:
    """An organizer with one registered endpoint, and the parts that feed and send it."""

    client: AsyncClient
    session: AsyncSession
    organizer: User
    headers: dict[str, str]
    url: str
    """The endpoint's path: /api/webhooks/{id}."""
    relay: Relay
    receiver: Receiver
    sender: WebhookSender
    maker: async_sessionmaker[AsyncSession]

    async def event(self) -> None:
        """One event of the organizer's, relayed: a delivery per active endpoint."""
        payload = {"organizer_id": str(self.organizer.id)}
        await emit(self.session, Topic.units_released, new_id(), payload)
        await self.relay()

    async def send(self) -> int:
        await self.session.flush()
        return await self.sender.deliver_once(self.maker)

    async def deliver_one(self) -> tuple[str, str]:
        """A new event sent: the (signature header, body) the receiver got."""
        await self.event()
        await self.send()
        headers, body = self.receiver.received[-1]
        return headers[SIGNATURE_HEADER.lower()], body

    async def call(self, method: str, path: str = "", **body: Any) -> httpx.Response:
        return await self.client.request(
            method, self.url + path, headers=self.headers, json=body or None
        )

    async def deliveries(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.call("GET", "/deliveries")).json()["items"]
        return items


@pytest.fixture
async def hooked(
    client: AsyncClient,
    session: AsyncSession,
    auth_headers: Headers,
    relay: Relay,
    receiver: Receiver,
    sender: WebhookSender,
    local_sessionmaker: async_sessionmaker[AsyncSession],
) -> Hooked:
    organizer = await create_user(session, role=Role.organizer)
    headers = auth_headers(organizer)
    url = f"/api/webhooks/{(await register(client, headers)).json()['id']}"
    return Hooked(
        client, session, organizer, headers, url, relay, receiver, sender, local_sessionmaker
    )


class TestManagement:
    def test_a_rolled_secret_adds_a_second_v1_and_either_secret_verifies(self) -> None:
        header = sign("key", 1700000000, '{"a":1}', also=["old"])

        t, new, old = header.split(",")
        # The first v1 is the one above; the second, printf '1700000000.{"a":1}' |
        # openssl dgst -sha256 -hmac old
        assert (t, new) == (
            "t=1700000000",
            "v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03",
        )
        assert old == "v1=5bed6ff4fdaa1f7539be4b82f6c76ce254e00e815b22b0dc8132056e0392cbcf"
        assert verify("key", sign("key", int(time.time()), "{}", also=["old"]), "{}")
        assert verify("old", sign("key", int(time.time()), "{}", also=["old"]), "{}")

    async def test_rotation_signs_with_both_secrets_for_the_overlap_then_with_the_new_alone(
        self, hooked: Hooked
    ) -> None:
        rotated = await hooked.call("POST", "/rotate-secret", secret=NEW_SECRET)
        during = await hooked.deliver_one()
        await hooked.session.execute(
            update(WebhookEndpoint).values(
                previous_secret_expires_at=utcnow() - timedelta(seconds=1)
            )
        )
        after = await hooked.deliver_one()
        shown = (await hooked.call("GET")).json()

        assert rotated.status_code == 200
        assert rotated.json()["secret"] == NEW_SECRET
        expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
        assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)
        assert "secret" not in shown
        assert verify(NEW_SECRET, *during)
        assert verify(SECRET, *during)
        assert verify(NEW_SECRET, *after)
        assert not verify(SECRET, *after)

    async def test_rotation_without_overlap_drops_the_old_secret_at_once_and_generates_one(
        self, hooked: Hooked
    ) -> None:
        rotated = await hooked.call("POST", "/rotate-secret", overlap_seconds=0)
        signature, body = await hooked.deliver_one()

        new = rotated.json()["secret"]
        assert len(new) >= 32
        assert new != SECRET
        assert rotated.json()["previous_secret_expires_at"] is None
        assert signature.count("v1=") == 1
        assert verify(new, signature, body)
        assert not verify(SECRET, signature, body)

    async def test_rotation_with_no_body_and_refused_values(self, hooked: Hooked) -> None:
        bare = await hooked.call("POST", "/rotate-secret")
        too_long = await hooked.call("POST", "/rotate-secret", overlap_seconds=8 * 86400)
        short_secret = await hooked.call("POST", "/rotate-secret", secret="short")

        assert bare.status_code == 200
        assert bare.json()["previous_secret_expires_at"]
        assert (too_long.status_code, too_long.json()["code"]) == (422, "validation_error")
        assert short_secret.status_code == 422

    async def test_events_while_switched_off_are_not_sent_to_it(self, hooked: Hooked) -> None:
        off = await hooked.call("PUT", is_active=False)
        await hooked.event()
        while_off = await hooked.send()
        on = await hooked.call("PUT", is_active=True)
        after = await hooked.send()

        assert (off.json()["is_active"], off.json()["disabled_at"] is not None) == (False, True)
        assert (on.json()["is_active"], on.json()["disabled_at"]) == (True, None)
        # The event came while it was off: deliveries are logged for active endpoints only.
        assert (while_off, after) == (0, 0)
        assert hooked.receiver.received == []

    async def test_paused_endpoint_keeps_what_was_queued_and_sends_it_when_on(
        self, hooked: Hooked
    ) -> None:
        await hooked.event()

        await hooked.call("PUT", is_active=False)
        while_off = await hooked.send()
        await hooked.call("PUT", is_active=True)
        after = await hooked.send()

        assert (while_off, after) == (0, 1)
        [(_, body)] = hooked.receiver.received
        assert json.loads(body)["topic"] == Topic.units_released.value

    async def test_an_endpoint_switched_off_by_410s_is_switched_on_again(
        self, hooked: Hooked
    ) -> None:
        await hooked.event()
        hooked.receiver.statuses = [410, 410, 410]
        for _ in range(3):
            await hooked.send()
            await make_due(hooked.session)

        disabled = (await hooked.call("GET")).json()
        on = (await hooked.call("PUT", is_active=True)).json()
        signature, body = await hooked.deliver_one()

        assert (disabled["is_active"], disabled["consecutive_gone"]) == (False, 3)
        assert (on["is_active"], on["consecutive_gone"], on["disabled_at"]) == (True, 0, None)
        assert len(hooked.receiver.received) == 4
        assert verify(SECRET, signature, body)

    async def test_url_and_topics_change_and_an_internal_url_is_refused(
        self, hooked: Hooked
    ) -> None:
        changed = await hooked.call(
            "PUT", url="https://new.example.com/in", topics=["booking.confirmed"]
        )
        refused = await hooked.call("PUT", url="http://10.0.0.5/in")
        unknown = await hooked.call("PUT", topics=["no.such"])
        everything = await hooked.call("PUT", topics=[])

        assert changed.status_code == 200
        assert (changed.json()["url"], changed.json()["topics"]) == (
            "https://new.example.com/in",
            ["booking.confirmed"],
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "webhook_url_refused")
        assert unknown.status_code == 422
        assert everything.json()["url"] == "https://new.example.com/in"
        assert everything.json()["topics"] == []

    async def test_ping_reaches_the_receiver_signed_and_is_logged(self, hooked: Hooked) -> None:
        ping = await hooked.call("POST", "/ping")
        sent = await hooked.send()
        log = await hooked.deliveries()

        assert ping.status_code == 202
        assert (ping.json()["topic"], ping.json()["status"]) == ("webhook.ping", "pending")
        assert sent == 1
        [(got, body)] = hooked.receiver.received
        assert verify(SECRET, got[SIGNATURE_HEADER.lower()], body)
        assert got[EVENT_ID_HEADER.lower()] == ping.json()["event_id"]
        message = json.loads(body)
        assert (message["id"], message["topic"]) == (ping.json()["event_id"], "webhook.ping")
        assert message["data"] == {
            "webhook_id": hooked.url.rsplit("/", 1)[1],
            "organizer_id": str(hooked.organizer.id),
        }
        assert [(d["id"], d["status"]) for d in log] == [(ping.json()["id"], "delivered")]

    async def test_a_failed_delivery_is_sent_again_with_its_body_and_event_id(
        self, hooked: Hooked
    ) -> None:
        await hooked.event()
        hooked.receiver.statuses = [500] * 5  # the sender's max_attempts
        for _ in range(5):
            await hooked.send()
            await make_due(hooked.session)
        [failed] = await hooked.deliveries()

        again = await hooked.call("POST", f"/deliveries/{failed['id']}/redeliver")
        twice = await hooked.call("POST", f"/deliveries/{failed['id']}/redeliver")
        await hooked.send()
        [done] = await hooked.deliveries()

        assert (failed["status"], failed["attempts"]) == ("failed", 5)
        assert again.status_code == 202
        assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
        assert (twice.status_code, twice.json()["code"]) == (409, "webhook_delivery_pending")
        assert (done["id"], done["status"], done["attempts"]) == (failed["id"], "delivered", 1)
        assert len({body for _, body in hooked.receiver.received}) == 1
        assert len(hooked.receiver.received) == 6

    async def test_switched_off_refuses_ping_and_redelivery(self, hooked: Hooked) -> None:
        ping = (await hooked.call("POST", "/ping")).json()
        await hooked.send()
        await hooked.call("PUT", is_active=False)

        refused_ping = await hooked.call("POST", "/ping")
        refused_again = await hooked.call("POST", f"/deliveries/{ping['id']}/redeliver")

        assert (refused_ping.status_code, refused_ping.json()["code"]) == (409, "webhook_inactive")
        assert (refused_again.status_code, refused_again.json()["code"]) == (
            409,
            "webhook_inactive",
        )

    async def test_others_cannot_manage_an_endpoint(
        self, hooked: Hooked, auth_headers: Headers
    ) -> None:
        rival = await create_user(hooked.session, role=Role.organizer)
        buyer = await create_user(hooked.session)
        ping = (await hooked.call("POST", "/ping")).json()
        calls = [
            ("PUT", "", {"is_active": False}),
            ("POST", "/rotate-secret", {}),
            ("POST", "/ping", None),
            ("POST", f"/deliveries/{ping['id']}/redeliver", None),
        ]

        for method, path, body in calls:
            as_rival, as_buyer = [
                await hooked.client.request(
                    method, hooked.url + path, headers=auth_headers(who), json=body
                )
                for who in (rival, buyer)
            ]
            assert (as_rival.status_code, as_rival.json()["code"]) == (404, "webhook_not_found")
            assert as_buyer.status_code == 403
        unknown = await hooked.call("POST", f"/deliveries/{new_id()}/redeliver")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "webhook_delivery_not_found")

    async def test_changes_and_rotations_are_audited_without_the_secret(
        self, hooked: Hooked, auth_headers: Headers
    ) -> None:
        admin = await create_user(hooked.session, role=Role.admin)

        await hooked.call("PUT", topics=["booking.confirmed"])
        await hooked.call("PUT", topics=["booking.confirmed"])
        await hooked.call("POST", "/rotate-secret", secret=NEW_SECRET)
        log = (await hooked.client.get("/api/admin/audit-log", headers=auth_headers(admin))).json()[
            "items"
        ]

        updated = [e for e in log if e["action"] == "webhook.updated"]
        [rotated] = [e for e in log if e["action"] == "webhook.secret_rotated"]
        assert [e["details"]["changed"] for e in updated] == [["topics"]]
        assert rotated["details"]["overlap_seconds"] == 86400
        assert SECRET not in json.dumps(log)
        assert NEW_SECRET not in json.dumps(log)
