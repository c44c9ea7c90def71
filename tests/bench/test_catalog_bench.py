"""Smoke test of the catalog benchmark's seed at a tiny size (the benchmark itself is not
part of the suite): the seeded catalog is what the measured endpoints expect."""

from bench.catalog.seed import seed_statements
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def _seed(session: AsyncSession) -> None:
    for sql, params in seed_statements(events=200, cities=20):
        await session.execute(text(sql), params)


class TestCatalogBenchSeed:
    async def test_seeded_events_are_listed_searched_and_found_nearby(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        await _seed(session)
        city = (
            await session.execute(text("SELECT id, latitude, longitude FROM cities LIMIT 1"))
        ).one()

        listed = (await client.get("/api/events", params={"city_id": str(city.id)})).json()
        searched = (await client.get("/api/events/search", params={"q": "symphny"})).json()
        nearby = (
            await client.get(
                "/api/events/by-location",
                params={"latitude": city.latitude, "longitude": city.longitude},
            )
        ).json()

        assert listed["total"] > 0
        assert searched["total"] > 0
        assert all(
            "Symphony" in e["title"] or "symphony" in e["description"] for e in searched["items"]
        )
        assert nearby["total"] >= listed["total"]
        assert nearby["items"][0]["distance_km"] < 5
