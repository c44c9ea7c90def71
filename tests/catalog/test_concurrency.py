import asyncio
from collections.abc import Callable
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import Showtime
from boxoffice.inventory.models import InventoryUnit
from boxoffice.review.models import Review
from tests.catalog.helpers import make_event, make_venue, soon, tiers
from tests.factories import create_city, create_user

Headers = Callable[[User], dict[str, str]]


class TestConcurrentWrites:
    async def test_concurrent_showtimes_each_get_their_own_full_inventory(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        async with committed() as session, session.begin():
            organizer = await create_user(session, role=Role.organizer)
            city = await create_city(session)
        headers = auth_headers(organizer)
        venue = await make_venue(committing_client, headers, city)
        event = await make_event(committing_client, headers, venue, days=(), publish=False)

        async def schedule(day: int) -> int:
            starts = soon(day)
            response = await committing_client.post(
                f"/api/events/{event['id']}/showtimes",
                json={
                    "venue_id": venue["id"],
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=2)).isoformat(),
                    "price_tiers": tiers(venue),
                },
                headers=headers,
            )
            return response.status_code

        statuses = await asyncio.gather(*(schedule(day) for day in range(1, 13)))

        assert statuses == [201] * 12
        async with committed() as session:
            counts = (
                await session.execute(
                    select(Showtime.id, func.count(InventoryUnit.id))
                    .join(InventoryUnit, InventoryUnit.showtime_id == Showtime.id)
                    .where(Showtime.event_id == event["id"])
                    .group_by(Showtime.id)
                )
            ).all()
        assert sorted(count for _, count in counts) == [60] * 12

    async def test_racing_duplicate_reviews_store_one(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        async with committed() as session, session.begin():
            organizer = await create_user(session, role=Role.organizer)
            buyer = await create_user(session)
            city = await create_city(session)
        venue = await make_venue(committing_client, auth_headers(organizer), city)
        event = await make_event(committing_client, auth_headers(organizer), venue)

        responses = await asyncio.gather(
            *(
                committing_client.post(
                    f"/api/events/{event['id']}/reviews",
                    json={"rating": 5},
                    headers=auth_headers(buyer),
                )
                for _ in range(8)
            )
        )

        assert sorted(r.status_code for r in responses) == [201] + [409] * 7
        async with committed() as session:
            stored = await session.scalar(
                select(func.count()).where(Review.event_id == event["id"])
            )
        assert stored == 1
