"""Warm-up at startup: the pool's connections are open and the sale's statements prepared
on each before the first request."""

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator

from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import boxoffice.app  # noqa: F401  (imports every repository, so every statement is made)
from boxoffice.app import create_app
from boxoffice.booking.repository import SALE_WINDOW
from boxoffice.config import DatabaseSettings, Settings
from boxoffice.db import driver
from boxoffice.db.engine import create_engine, warm_up

_PREPARED = text("SELECT statement FROM pg_prepared_statements")


def _application_statements() -> set[str]:
    """The text of every `Sql` constant of boxoffice's modules (tests make some of their
    own, not all of them valid SQL)."""
    return {
        value.text
        for name, module in list(sys.modules.items())
        if name.startswith("boxoffice.")
        for value in vars(module).values()
        if isinstance(value, driver.Sql)
    }


@contextlib.asynccontextmanager
async def _engine(
    dsn: str, pool_size: int, max_overflow: int = 10, statement_timeout_ms: int = 15_000
) -> AsyncIterator[AsyncEngine]:
    settings = DatabaseSettings(
        url=dsn,
        pool_size=pool_size,
        max_overflow=max_overflow,
        statement_timeout_ms=statement_timeout_ms,
    )
    engine = create_engine(dsn, settings)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _select_one(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT 1"))).scalar_one())


class TestWarmUp:
    async def test_opens_the_pool_and_prepares_every_statement_on_each_connection(
        self, database_url: str
    ) -> None:
        async with _engine(database_url, pool_size=3) as engine:
            assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
            assert await warm_up(engine, 3) == 3
            # Three distinct connections, all back in the pool and idle.
            assert engine.pool.checkedin() == 3  # type: ignore[attr-defined]
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            wanted = _application_statements()
            assert len(wanted) > 20  # the hold, booking, claim and token statements
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(3):
                    connection = await stack.enter_async_context(engine.connect())
                    prepared = set((await connection.execute(_PREPARED)).scalars())
                    assert wanted <= prepared

    async def test_a_request_uses_the_prepared_statement_instead_of_preparing_again(
        self, database_url: str
    ) -> None:
        async with _engine(database_url, pool_size=1) as engine:
            assert await warm_up(engine, 1) == 1
            async with engine.connect() as connection:
                before = (await connection.execute(_PREPARED)).scalars().all()
                raw = await connection.get_raw_connection()
                rows = await raw.driver_connection.fetch(  # type: ignore[union-attr]
                    SALE_WINDOW.text, *SALE_WINDOW.args({"showtime_id": uuid.uuid4()})
                )
                assert rows == []
                after = (await connection.execute(_PREPARED)).scalars().all()
                assert sorted(after) == sorted(before)

    async def test_warmed_connections_idle_longer_than_the_statement_timeout_stay_usable(
        self, database_url: str
    ) -> None:
        # asyncpg prepares with Parse/Describe/Flush and no Sync: the server then sits
        # inside the unfinished exchange ("active"), the statement timeout running. A
        # connection warmed and left idle past it was cancelled: its next request failed
        # ("canceling statement due to statement timeout") and closing it hung.
        async with _engine(
            database_url, pool_size=2, max_overflow=0, statement_timeout_ms=300
        ) as engine:
            assert await warm_up(engine, 2) == 2
            async with engine.connect() as connection:
                states = (
                    await connection.execute(
                        text(
                            "SELECT state FROM pg_stat_activity"
                            " WHERE application_name = 'boxoffice' AND datname = current_database()"
                            " AND pid <> pg_backend_pid()"
                        )
                    )
                ).scalars()
                assert "active" not in set(states)
            await asyncio.sleep(0.6)
            answers = await asyncio.gather(*(_select_one(engine) for _ in range(2)))
            assert list(answers) == [1, 1]
            started = time.monotonic()
            await engine.dispose()
            assert time.monotonic() - started < 1

    async def test_a_warm_up_cut_short_by_its_bound_leaves_the_pool_usable(
        self, database_url: str
    ) -> None:
        for bound in (0.005, 0.02, 0.05):
            async with _engine(database_url, pool_size=3, max_overflow=0) as engine:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(bound):
                        await warm_up(engine, 3)
                # All three connections can be checked out at once: none was lost.
                answers = await asyncio.wait_for(
                    asyncio.gather(*(_select_one(engine) for _ in range(3))), 10
                )
                assert list(answers) == [1, 1, 1]
                assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]

    async def test_an_unreachable_server_is_left_for_later(self) -> None:
        async with _engine("postgresql://nobody@127.0.0.1:1/none", pool_size=2) as engine:
            assert await warm_up(engine, 2) == 0
            assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]

    async def test_a_server_that_never_answers_is_given_up_on_within_the_bound(self) -> None:
        # 10.255.255.1 is not routed: a connection attempt hangs (or fails at once where the
        # network says so). The app bounds warm-up the same way; the engine stays usable.
        async with _engine("postgresql://nobody@10.255.255.1:5432/none", pool_size=2) as engine:
            started = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    assert await warm_up(engine, 2) == 0
            assert time.monotonic() - started < 5
            assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]


_STARTUP_PROBE = """
import asyncio, gc, json, sys
from boxoffice.app import create_app
from boxoffice.config import DatabaseSettings, Settings
from boxoffice.db.models import Base

async def main():
    url = sys.argv[1]
    app = create_app(Settings(database=DatabaseSettings(url=url, pool_size=4)))
    before = all(m.configured for m in Base.registry.mappers)
    async with app.router.lifespan_context(app):
        print(json.dumps({
            "configured_before": before,
            "configured_after": all(m.configured for m in Base.registry.mappers),
            "idle_connections": app.state.engine.pool.checkedin(),
            "startup_objects_frozen": gc.get_freeze_count() > 100_000,
        }))

asyncio.run(main())
"""


class TestStartup:
    async def test_the_app_starts_with_mappers_configured_the_pool_warm_and_its_objects_frozen(
        self, database_url: str
    ) -> None:
        # A fresh interpreter: in this one, earlier tests have long configured the mappers.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _STARTUP_PROBE,
            database_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        report = json.loads(out.decode().strip().splitlines()[-1])
        assert report == {
            "configured_before": False,
            "configured_after": True,
            "idle_connections": 4,
            "startup_objects_frozen": True,
        }

    async def test_the_app_left_idle_past_the_statement_timeout_serves_its_first_requests(
        self, database_url: str
    ) -> None:
        # Startup warms every pool connection; the first buyers may come much later than
        # the statement timeout (here 300 ms). Each warmed connection must still serve.
        settings = Settings(
            database=DatabaseSettings(url=database_url, pool_size=2, statement_timeout_ms=300)
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0.6)
            transport = ASGITransport(app=app, raise_app_exceptions=False)
            async with AsyncClient(transport=transport, base_url="http://test") as client:
                responses = await asyncio.gather(*(client.get("/api/events") for _ in range(4)))
        assert [r.status_code for r in responses] == [200, 200, 200, 200]
