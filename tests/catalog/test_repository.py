import random
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role
from boxoffice.catalog.models import EventStatus, EventType
from boxoffice.catalog.queries import EventFilters, list_query
from boxoffice.catalog.repository import EventRepository
from boxoffice.kit.pagination import SortOrder
from tests.factories import create_event, create_showtime, create_user, create_venue


class TestNextShowtimeWalk:
    """The default list's fast path returns exactly the general query's pages."""

    @pytest.mark.parametrize(("limit", "offset"), [(20, 0), (7, 13), (50, 40), (100, 0)])
    async def test_pages_match_the_general_query(
        self, session: AsyncSession, limit: int, offset: int
    ) -> None:
        rng = random.Random(limit * 1000 + offset)
        organizer = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=organizer, rows=1, seats_per_row=1)
        for n in range(60):
            event = await create_event(
                session,
                organizer=organizer,
                event_type=EventType.music if n % 2 else EventType.sport,
                status=EventStatus.draft if n % 11 == 0 else EventStatus.published,
            )
            for _ in range(5):
                await create_showtime(
                    session,
                    event=event,
                    venue=venue,
                    starts_in=timedelta(hours=rng.randrange(1, 400)),
                )
        repo = EventRepository(session)

        for filters in (EventFilters(), EventFilters(event_type=EventType.music)):
            fast, fast_total = await repo.list_page(
                filters, sort="starts_at", order=SortOrder.asc, limit=limit, offset=offset
            )
            sql, params = list_query(filters, sort="starts_at", order=SortOrder.asc)
            general, general_total = await repo._page(sql, params, limit=limit, offset=offset)

            assert [r.event_id for r in fast] == [r.event_id for r in general]
            assert fast_total == general_total
