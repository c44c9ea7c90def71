from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role
from boxoffice.catalog.models import EventStatus
from tests.factories import create_event, create_user


class TestListEvents:
    async def test_lists_only_published_events(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        published = await create_event(session, organizer=organizer, title="Out now")
        await create_event(session, organizer=organizer, title="Secret", status=EventStatus.draft)

        body = (await client.get("/api/events")).json()

        assert [e["id"] for e in body["items"]] == [str(published.id)]
        assert body["total"] == 1

    async def test_pages_carry_total_and_next_link(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        for _ in range(3):
            await create_event(session, organizer=organizer)

        first = (await client.get("/api/events", params={"limit": 2})).json()
        second = (await client.get(first["next"])).json()

        assert first["total"] == 3
        assert len(first["items"]) == 2
        assert len(second["items"]) == 1
        assert second["next"] is None
        assert {e["id"] for e in first["items"]}.isdisjoint({e["id"] for e in second["items"]})
