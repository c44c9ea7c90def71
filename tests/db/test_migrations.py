import asyncio
import uuid
from typing import Any

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.db.engine import create_engine, create_sessionmaker, plain_url
from boxoffice.db.migrate import alembic_config, upgrade
from boxoffice.db.models import Base
from tests.booking.factories import committed_world, free_booking
from tests.conftest import _admin_execute
from tests.factories import bearer


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


class TestMigrations:
    async def test_migrations_build_exactly_the_models(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
        assert diff == []

    async def test_rows_the_api_deletes_are_checked_through_an_index(
        self, engine: AsyncEngine
    ) -> None:
        # Replacing a venue's layout deletes sections and their seats; each deleted row's
        # foreign-key check reads the referring table, by index only if one leads with the
        # referring column. (Users are scrubbed, not deleted; holds are never deleted.)
        async with engine.connect() as connection:
            unindexed = (
                (
                    await connection.exec_driver_sql(
                        """
                    SELECT c.conrelid::regclass::text || '.' || a.attname
                      FROM pg_constraint c
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                     WHERE c.contype = 'f'
                       AND c.confrelid IN ('seats'::regclass, 'sections'::regclass)
                       AND c.confrelid <> c.conrelid
                       AND NOT EXISTS (SELECT 1 FROM pg_index i
                                        WHERE i.indrelid = c.conrelid
                                          AND i.indkey[0] = c.conkey[1])
                     ORDER BY 1
                    """
                    )
                )
                .scalars()
                .all()
            )
        # price_tiers: a few rows a showtime, read whole in no time.
        assert unindexed == ["price_tiers.section_id"]


class TestTicketCodesNoLongerStored:
    async def test_a_downgrade_writes_each_ticket_its_current_code_back(
        self, server_url: str, settings: Settings
    ) -> None:
        """Revision 0025 dropped `tickets.code` (codes are computed from the key); going
        back below it must give every ticket the code the API showed, transfers included."""
        name = f"boxoffice_mig_{uuid.uuid4().hex[:12]}"
        await _admin_execute(server_url, f'CREATE DATABASE "{name}"')
        url = make_url(plain_url(server_url)).set(database=name).render_as_string(False)
        engine = create_engine(url)
        try:
            await asyncio.to_thread(upgrade, url)
            app = create_app(settings)
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
            world, (buyer, friend), _ = await committed_world(
                app.state.sessionmaker, 2, price_minor=0
            )
            headers = {u.id: bearer(settings, u) for u in (buyer, friend)}
            async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
                booked = await free_booking(c, world, buyer, lambda u: headers[u.id])
                given = booked["tickets"][0]["id"]
                moved = await c.post(
                    f"/api/tickets/{given}/transfer",
                    json={"to_email": friend.email},
                    headers=headers[buyer.id],
                )
                assert moved.status_code == 200, moved.json()
                shown = {
                    t["id"]: t["code"]
                    for who in (buyer, friend)
                    for t in (await c.get("/api/users/me/tickets", headers=headers[who.id])).json()[
                        "items"
                    ]
                }
            assert len(shown) == 2
            assert all(shown.values())
            await engine.dispose()

            conn = await asyncpg.connect(url)
            try:
                # At head no row of any table holds a code's signature.
                tables = await conn.fetch(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
                dumped = ""
                for (table,) in tables:
                    rows = f"SELECT string_agg(r::text, ' ') FROM \"{table}\" r"  # noqa: S608
                    dumped += (await conn.fetchval(rows) or "") + " "
            finally:
                await conn.close()
            assert len(tables) > 30
            assert str(given) in dumped
            for code in shown.values():
                assert code.partition(".")[2] not in dumped

            await asyncio.to_thread(command.downgrade, alembic_config(url), "0024")
            conn = await asyncpg.connect(url)
            try:
                stored = {
                    str(r["id"]): r["code"]
                    for r in await conn.fetch("SELECT id, code FROM tickets")
                }
            finally:
                await conn.close()
            assert stored == shown

            await asyncio.to_thread(upgrade, url)
            async with engine.connect() as connection:
                assert await connection.run_sync(_diff) == []
        finally:
            await engine.dispose()
            await _admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
