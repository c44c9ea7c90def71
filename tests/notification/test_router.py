from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.kit.outbox import Topic, emit
from tests.factories import create_user
from tests.notification.conftest import RecordingEmailSender, Relay, new_id

Headers = Callable[[User], dict[str, str]]


async def notify(session: AsyncSession, user: User, reference: str = "BX-1") -> None:
    await emit(
        session,
        Topic.booking_confirmed,
        new_id(),
        {"user_id": str(user.id), "booking_reference": reference, "event_title": "Hamlet"},
    )


class TestMyNotifications:
    async def test_lists_own_notifications_newest_first(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        buyer = await create_user(session)
        await notify(session, buyer, "BX-1")
        await relay()
        await notify(session, buyer, "BX-2")
        await relay()

        body = (await client.get("/api/users/me/notifications", headers=auth_headers(buyer))).json()

        assert body["total"] == 2
        assert ["BX-2" in n["body"] for n in body["items"]] == [True, False]
        assert body["items"][0]["kind"] == "booking_confirmed"
        assert body["items"][0]["title"] == "Booking confirmed: Hamlet"
        assert body["items"][0]["read_at"] is None

    async def test_never_shows_another_users_notifications(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        alice, bob = await create_user(session), await create_user(session)
        await notify(session, alice)
        await relay()

        mine = await client.get("/api/users/me/notifications", headers=auth_headers(bob))
        theirs = await client.get(f"/api/users/{alice.id}/notifications", headers=auth_headers(bob))

        assert mine.json()["total"] == 0
        assert theirs.status_code == 404
        assert theirs.json()["code"] == "user_not_found"

    async def test_admin_reads_anyones_notifications(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        alice = await create_user(session)
        admin = await create_user(session, role=Role.admin)
        await notify(session, alice)
        await relay()

        response = await client.get(
            f"/api/users/{alice.id}/notifications", headers=auth_headers(admin)
        )

        assert response.status_code == 200
        assert response.json()["total"] == 1

    async def test_requires_sign_in(self, client: AsyncClient) -> None:
        response = await client.get("/api/users/me/notifications")

        assert response.status_code == 401

    async def test_pages_and_unread_filter(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        buyer = await create_user(session)
        for i in range(3):
            await notify(session, buyer, f"BX-{i}")
        await relay()
        headers = auth_headers(buyer)
        first = (await client.get("/api/users/me/notifications?limit=2", headers=headers)).json()
        await client.put(
            f"/api/users/{buyer.id}/notifications/{first['items'][0]['id']}/read", headers=headers
        )

        unread = await client.get("/api/users/me/notifications?unread=true", headers=headers)
        second = await client.get(first["next"], headers=headers)

        assert first["total"] == 3
        assert len(second.json()["items"]) == 1
        assert unread.json()["total"] == 2


class TestMarkRead:
    async def test_marks_own_notification_read(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        buyer = await create_user(session)
        await notify(session, buyer)
        await relay()
        headers = auth_headers(buyer)
        item = (await client.get("/api/users/me/notifications", headers=headers)).json()["items"][0]

        response = await client.put(
            f"/api/users/{buyer.id}/notifications/{item['id']}/read", headers=headers
        )
        count = await client.get("/api/users/me/notifications/unread-count", headers=headers)

        assert response.status_code == 200
        assert response.json()["read_at"] is not None
        assert count.json() == {"unread": 0}

    async def test_another_users_notification_is_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        alice, bob = await create_user(session), await create_user(session)
        await notify(session, alice)
        await relay()
        item = (
            await client.get("/api/users/me/notifications", headers=auth_headers(alice))
        ).json()["items"][0]

        via_own_path = await client.put(
            f"/api/users/{bob.id}/notifications/{item['id']}/read", headers=auth_headers(bob)
        )
        via_their_path = await client.put(
            f"/api/users/{alice.id}/notifications/{item['id']}/read", headers=auth_headers(bob)
        )
        still = (
            await client.get("/api/users/me/notifications", headers=auth_headers(alice))
        ).json()["items"][0]

        assert via_own_path.status_code == 404
        assert via_own_path.json()["code"] == "notification_not_found"
        assert via_their_path.status_code == 404
        assert still["read_at"] is None

    async def test_read_all_marks_only_mine(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        alice, bob = await create_user(session), await create_user(session)
        await notify(session, alice, "A1")
        await notify(session, alice, "A2")
        await notify(session, bob, "B1")
        await relay()

        marked = await client.post(
            "/api/users/me/notifications/read-all", headers=auth_headers(alice)
        )
        bob_count = await client.get(
            "/api/users/me/notifications/unread-count", headers=auth_headers(bob)
        )

        assert marked.json() == {"marked": 2}
        assert bob_count.json() == {"unread": 1}

    async def test_malformed_id_is_a_validation_error(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)

        response = await client.put(
            f"/api/users/{buyer.id}/notifications/nope/read", headers=auth_headers(buyer)
        )

        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"


class TestPreferences:
    async def test_defaults_cover_every_kind(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)

        body = (
            await client.get("/api/users/me/notification-preferences", headers=auth_headers(buyer))
        ).json()

        assert body["channels"]["booking_confirmed"] == {"in_app": True, "email": True}
        assert body["channels"]["new_event"] == {"in_app": True, "email": False}

    async def test_turning_email_off_stops_email_but_not_in_app(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        buyer = await create_user(session)
        headers = auth_headers(buyer)
        saved = await client.put(
            "/api/users/me/notification-preferences",
            headers=headers,
            json={"channels": {"booking_confirmed": {"email": False}}},
        )
        await notify(session, buyer)
        await relay()

        listed = (await client.get("/api/users/me/notifications", headers=headers)).json()

        assert saved.json()["channels"]["booking_confirmed"] == {"in_app": True, "email": False}
        assert listed["total"] == 1
        assert outbox_sender.sent == []

    async def test_asked_for_tickets_by_e_mail_cannot_be_turned_off(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        path = "/api/users/me/notification-preferences"

        refused = await client.put(
            path,
            headers=auth_headers(buyer),
            json={
                "channels": {
                    "booking_confirmed": {"email": False},
                    "tickets_requested": {"email": False, "in_app": False},
                }
            },
        )
        shown = (await client.get(path, headers=auth_headers(buyer))).json()["channels"]

        assert refused.status_code == 422
        assert refused.json()["code"] == "preference_required"
        assert refused.json()["preferences"] == ["tickets_requested.email"]
        # Nothing of the refused request was saved.
        assert shown["booking_confirmed"] == {"in_app": True, "email": True}
        assert shown["tickets_requested"] == {"in_app": True, "email": True}
        quiet = await client.put(
            path,
            headers=auth_headers(buyer),
            json={"channels": {"tickets_requested": {"in_app": False, "email": True}}},
        )
        assert quiet.json()["channels"]["tickets_requested"] == {"in_app": False, "email": True}

    async def test_unknown_kind_is_rejected(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)

        response = await client.put(
            "/api/users/me/notification-preferences",
            headers=auth_headers(buyer),
            json={"channels": {"telepathy": {"email": True}}},
        )

        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
