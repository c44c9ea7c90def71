from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from tests.factories import create_event, create_user
from tests.notification.conftest import Relay

Headers = Callable[[User], dict[str, str]]


async def unread(client: AsyncClient, headers: dict[str, str]) -> int:
    body = (await client.get("/api/users/me/notifications/unread-count", headers=headers)).json()
    count: int = body["unread"]
    return count


class TestAdminPush:
    async def test_push_to_one_user(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        buyer, other = await create_user(session), await create_user(session)

        accepted = await client.post(
            "/api/notifications/push",
            headers=auth_headers(admin),
            json={
                "audience": {"type": "user", "id": str(buyer.id)},
                "title": "Doors open at 7",
                "body": "Bring your <ticket>.",
                "data": {"link": "/events/1"},
            },
        )
        await relay()

        items = (
            await client.get("/api/users/me/notifications", headers=auth_headers(buyer))
        ).json()["items"]
        assert accepted.status_code == 202
        assert [(i["kind"], i["title"], i["body"]) for i in items] == [
            ("announcement", "Doors open at 7", "Bring your <ticket>.")
        ]
        assert items[0]["source_event_id"] == accepted.json()["event_id"]
        assert items[0]["data"]["link"] == "/events/1"
        assert await unread(client, auth_headers(other)) == 0

    async def test_push_to_followers_and_to_interested(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        organizer = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=organizer)
        fan, curious, bystander = [await create_user(session) for _ in range(3)]
        await client.post(f"/api/organizers/{organizer.id}/follow", headers=auth_headers(fan))
        await client.post(f"/api/events/{event.id}/interest", headers=auth_headers(curious))

        for audience in (
            {"type": "organizer_followers", "id": str(organizer.id)},
            {"type": "event_interested", "id": str(event.id)},
        ):
            response = await client.post(
                "/api/notifications/push",
                headers=auth_headers(admin),
                json={"audience": audience, "title": "Hello", "body": "News"},
            )
            assert response.status_code == 202
        await relay()

        assert await unread(client, auth_headers(fan)) == 1
        assert await unread(client, auth_headers(curious)) == 1
        assert await unread(client, auth_headers(bystander)) == 0

    async def test_only_admins_push(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)

        response = await client.post(
            "/api/notifications/push",
            headers=auth_headers(organizer),
            json={"audience": {"type": "user", "id": str(organizer.id)}, "title": "x", "body": "y"},
        )

        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"

    async def test_unknown_audience_target_is_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)

        response = await client.post(
            "/api/notifications/push",
            headers=auth_headers(admin),
            json={
                "audience": {
                    "type": "event_interested",
                    "id": "00000000-0000-0000-0000-000000000001",
                },
                "title": "x",
                "body": "y",
            },
        )

        assert response.status_code == 404
        assert response.json()["code"] == "event_not_found"

    async def test_showtime_audience_is_not_offered(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)

        response = await client.post(
            "/api/notifications/push",
            headers=auth_headers(admin),
            json={
                "audience": {"type": "showtime", "id": "00000000-0000-0000-0000-000000000001"},
                "title": "x",
                "body": "y",
            },
        )

        assert response.status_code == 422
