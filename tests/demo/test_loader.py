from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.auth.security import verify_password
from boxoffice.catalog.models import Showtime
from boxoffice.cli import _load_demo
from boxoffice.config import DatabaseSettings, Settings
from boxoffice.demo.loader import DEMO_PASSWORD, DEMO_USERS, load_demo
from boxoffice.inventory.models import InventoryUnit
from boxoffice.venue.models import Section, Venue


async def _capacity(session: AsyncSession, venue_name: str) -> int:
    total = await session.scalar(
        select(func.sum(Section.capacity)).join(Venue).where(Venue.name == venue_name)
    )
    return int(total or 0)


class TestDemoData:
    async def test_loads_once(self, session: AsyncSession) -> None:
        assert await load_demo(session) is True
        assert await load_demo(session) is False

    async def test_loads_once_whatever_was_done_to_the_demo_users_since(
        self, session: AsyncSession
    ) -> None:
        assert await load_demo(session) is True
        # An admin renamed every demo address (what made the next start load it again and
        # fail on a duplicate address, when "loaded" meant "the demo admin's address exists").
        for email, _, _ in DEMO_USERS:
            user = await session.scalar(select(User).where(User.email == email))
            assert user is not None
            user.email = f"renamed-{email}"
        await session.flush()

        assert await load_demo(session) is False
        left = await session.scalar(
            select(func.count()).select_from(User).where(User.email.like("%@example.com"))
        )
        assert left == 3

    async def test_demo_users_sign_in_with_the_published_password(
        self, session: AsyncSession
    ) -> None:
        await load_demo(session)
        for email, _, role in DEMO_USERS:
            user = await session.scalar(select(User).where(User.email == email))
            assert user is not None
            assert user.role == role
            assert verify_password(user.password_hash, DEMO_PASSWORD)

    async def test_venues_have_the_promised_sizes(self, session: AsyncSession) -> None:
        await load_demo(session)
        assert await _capacity(session, "Lumiere Cinema - Screen 1") == 150
        assert await _capacity(session, "Royal Crescent Theatre") == 800
        assert await _capacity(session, "Harbour Arena") == 10_000

    async def test_every_showtime_has_one_unit_per_place(self, session: AsyncSession) -> None:
        await load_demo(session)
        rows = await session.execute(
            select(Showtime.id, func.count(InventoryUnit.id))
            .join(InventoryUnit, InventoryUnit.showtime_id == Showtime.id)
            .group_by(Showtime.id)
        )
        counts = sorted(count for _, count in rows.all())
        assert counts[0] == 150
        assert counts[-1] == 10_000
        assert len(counts) == 13


class TestDemoCatalog:
    async def test_demo_events_are_found_by_city_search_and_nearby(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        await load_demo(session)

        by_city = (await client.get("/api/events/search", params={"q": "mumbai"})).json()
        near_newark = (
            await client.get("/api/events/by-location", params={"city_name": "Newark"})
        ).json()

        assert {e["title"] for e in by_city["items"]} == {
            "Monsoon Beats Live",
            "City Derby: Mumbai vs Bengaluru",
        }
        assert [e["title"] for e in near_newark["items"]] == ["Interstellar (Re-release)"]

    async def test_demo_draft_is_hidden_and_reviews_are_averaged(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        await load_demo(session)

        listed = (await client.get("/api/events", params={"limit": 100})).json()
        hamlet = next(e for e in listed["items"] if e["title"] == "Hamlet")
        detail = (await client.get(f"/api/events/{hamlet['id']}")).json()

        assert listed["total"] == 5
        assert "Open Mic Winter Special" not in {e["title"] for e in listed["items"]}
        assert detail["rating"] == {"average": 4.0, "count": 1}
        assert len(detail["showtimes"]) == 3


class TestCliLoad:
    async def test_is_not_held_to_the_per_request_statement_timeout(
        self, database_url: str, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        # `serve --demo` loads through here; with a small request timeout (or a slow
        # machine) the 10,000-place snapshot used to be cancelled and the server not start.
        settings = Settings(database=DatabaseSettings(statement_timeout_ms=1))
        assert await _load_demo(database_url, settings) is True
        async with committed() as session:
            units = await session.scalar(text("SELECT count(*) FROM inventory_units"))
        assert (units or 0) > 10_000
