import asyncio
from collections.abc import Callable
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import EventStatus
from boxoffice.kit.outbox import OutboxEvent, Topic, emit
from boxoffice.kit.time import utcnow
from boxoffice.notification.service import announce_sales_started
from tests.factories import create_event, create_user
from tests.notification.conftest import RecordingEmailSender, Relay

Headers = Callable[[User], dict[str, str]]


async def my_notifications(client: AsyncClient, headers: dict[str, str]) -> list[dict[str, object]]:
    body = (await client.get("/api/users/me/notifications", headers=headers)).json()
    items: list[dict[str, object]] = body["items"]
    return items


class TestFollow:
    async def test_follow_lists_and_unfollow(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        organizer = await create_user(session, role=Role.organizer)
        headers = auth_headers(buyer)

        followed = await client.post(f"/api/organizers/{organizer.id}/follow", headers=headers)
        again = await client.post(f"/api/organizers/{organizer.id}/follow", headers=headers)
        listed = (await client.get("/api/users/me/following", headers=headers)).json()
        unfollowed = await client.delete(f"/api/organizers/{organizer.id}/follow", headers=headers)
        after = (await client.get("/api/users/me/following", headers=headers)).json()

        assert (followed.status_code, again.status_code) == (204, 204)
        assert [f["organizer_id"] for f in listed["items"]] == [str(organizer.id)]
        assert unfollowed.status_code == 204
        assert after["total"] == 0

    async def test_only_organizers_can_be_followed(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer, other_buyer = await create_user(session), await create_user(session)

        response = await client.post(
            f"/api/organizers/{other_buyer.id}/follow", headers=auth_headers(buyer)
        )

        assert response.status_code == 404
        assert response.json()["code"] == "organizer_not_found"

    async def test_unfollowing_someone_not_followed_is_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        organizer = await create_user(session, role=Role.organizer)

        response = await client.delete(
            f"/api/organizers/{organizer.id}/follow", headers=auth_headers(buyer)
        )

        assert response.status_code == 404

    async def test_followers_are_notified_when_the_organizer_publishes(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        fan, stranger = await create_user(session), await create_user(session)
        organizer = await create_user(session, role=Role.organizer)
        await client.post(f"/api/organizers/{organizer.id}/follow", headers=auth_headers(fan))
        event = await create_event(session, organizer=organizer, title="Midnight Jazz")
        await emit(session, Topic.event_published, event.id, {"event_id": str(event.id)})

        await relay()

        [item] = await my_notifications(client, auth_headers(fan))
        assert item["kind"] == "new_event"
        assert item["title"] == "New from Test User: Midnight Jazz"
        assert item["data"] == {
            "event_id": str(event.id),
            "event_title": "Midnight Jazz",
            "organizer_id": str(organizer.id),
            "organizer_name": "Test User",
        }
        assert await my_notifications(client, auth_headers(stranger)) == []
        assert outbox_sender.sent == []  # new events are in-app only by default


class TestInterest:
    async def test_register_list_and_withdraw(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        organizer = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=organizer, title="Cup Final")
        headers = auth_headers(buyer)

        added = await client.post(f"/api/events/{event.id}/interest", headers=headers)
        listed = (await client.get("/api/users/me/interests", headers=headers)).json()
        removed = await client.delete(f"/api/events/{event.id}/interest", headers=headers)
        again = await client.delete(f"/api/events/{event.id}/interest", headers=headers)

        assert added.status_code == 204
        assert [(i["event_id"], i["event_title"]) for i in listed["items"]] == [
            (str(event.id), "Cup Final")
        ]
        assert removed.status_code == 204
        assert again.status_code == 404

    async def test_draft_events_are_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        organizer = await create_user(session, role=Role.organizer)
        draft = await create_event(session, organizer=organizer, status=EventStatus.draft)

        response = await client.post(
            f"/api/events/{draft.id}/interest", headers=auth_headers(buyer)
        )

        assert response.status_code == 404
        assert response.json()["code"] == "event_not_found"

    async def test_interested_users_are_notified_when_the_sale_starts(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        fan, other = await create_user(session), await create_user(session)
        organizer = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=organizer, title="Cup Final")
        event.sale_starts_at = utcnow() + timedelta(days=1)
        await session.flush()
        await client.post(f"/api/events/{event.id}/interest", headers=auth_headers(fan))
        assert await announce_sales_started(session) == 0
        event.sale_starts_at = utcnow() - timedelta(minutes=1)
        await session.flush()

        announced = await announce_sales_started(session)
        await relay()

        [item] = await my_notifications(client, auth_headers(fan))
        assert announced == 1
        assert item["kind"] == "sale_started"
        assert item["title"] == "Tickets on sale: Cup Final"
        assert [e.subject for e in outbox_sender.to(fan.email)] == ["Tickets on sale: Cup Final"]
        assert await my_notifications(client, auth_headers(other)) == []

    async def test_a_sale_is_announced_once(self, session: AsyncSession) -> None:
        organizer = await create_user(session, role=Role.organizer)
        await create_event(session, organizer=organizer)

        first, second = await announce_sales_started(session), await announce_sales_started(session)

        assert (first, second) == (1, 0)


class TestAnnounceConcurrently:
    async def test_several_workers_announce_each_sale_once(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            organizer = await create_user(session, role=Role.organizer)
            for _ in range(5):
                await create_event(session, organizer=organizer)
            await session.commit()

        async def worker() -> int:
            async with committed() as session, session.begin():
                return await announce_sales_started(session)

        counts = await asyncio.gather(*(worker() for _ in range(6)))

        async with committed() as session:
            emitted = await session.scalar(
                select(func.count()).where(OutboxEvent.topic == Topic.sale_started.value)
            )
        assert sum(counts) == 5
        assert emitted == 5
