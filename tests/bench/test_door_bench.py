"""The door benchmark's SQL-alone statements return what the endpoints they stand for
return (same tickets, same order), on a small seed. Guards the bench against drifting."""

import uuid
from collections.abc import Callable

import asyncpg
from bench.door.__main__ import _DOOR_LIST_SQL, _MANIFEST_SQL, _SUMMARY_SQL, _issue
from bench.flash_sale.seed import seed
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.config import Settings
from boxoffice.db.engine import plain_url

Headers = Callable[[User], dict[str, str]]


class TestDoorBenchStatements:
    async def test_the_sql_alone_matches_the_endpoints(
        self,
        settings: Settings,
        committed: async_sessionmaker[AsyncSession],
        committing_client: AsyncClient,
        auth_headers: Headers,
    ) -> None:
        assert settings.database.url
        dsn = plain_url(settings.database.url)
        data = await seed(dsn, buyers=10)
        await _issue(dsn, data, tickets=40, other=20)
        async with committed() as session:
            organizer = (
                await session.scalars(select(User).where(User.email == "organizer@bench.test"))
            ).one_or_none()
        assert organizer is not None
        base = f"/api/showtimes/{data.showtime_id}/check-ins"
        door = auth_headers(organizer)
        conn = await asyncpg.connect(dsn)
        try:
            manifest = (await committing_client.get(f"{base}/manifest", headers=door)).json()
            rows = await conn.fetch(_MANIFEST_SQL, data.showtime_id, uuid.UUID(int=0))
            assert [str(r["id"]) for r in rows] == [t["ticket_id"] for t in manifest["items"]]
            assert len(rows) == 40
            listed = (
                await committing_client.get(f"{base}/tickets", params={"limit": 100}, headers=door)
            ).json()
            rows = await conn.fetch(_DOOR_LIST_SQL, data.showtime_id)
            assert [str(r["id"]) for r in rows] == [t["ticket_id"] for t in listed["items"]]
            assert [r["holder_name"] for r in rows] == [t["holder_name"] for t in listed["items"]]
            count = (await committing_client.get(base, headers=door)).json()
            issued, checked_in = await conn.fetchrow(_SUMMARY_SQL, data.showtime_id)
            assert (issued, checked_in) == (count["tickets_issued"], count["checked_in"]) == (40, 0)
        finally:
            await conn.close()
