"""Shutting down never waits forever on the database: a pool whose connections the server
does not close is given up on within the bound, so SIGTERM always ends the process."""

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterable

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.app import create_app
from boxoffice.config import DatabaseSettings, Settings
from boxoffice.db.engine import close_engine, create_engine, plain_url


async def _backend_pids(engine: AsyncEngine, count: int) -> list[int]:
    """The server processes behind `count` pooled connections (checked out together, so
    each is a different one), returned to the pool afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(engine.connect()) for _ in range(count)]
        return [
            (await c.execute(text("SELECT pg_backend_pid()"))).scalar_one() for c in connections
        ]


@contextlib.asynccontextmanager
async def _stopped(pids: Iterable[int]) -> AsyncIterator[None]:
    """The server processes frozen (SIGSTOP): they take no message and close nothing, as a
    server that stopped answering. Resumed afterwards."""
    stopped: list[int] = []
    try:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
            except PermissionError:
                pytest.skip("the PostgreSQL server runs as a user this test may not signal")
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


async def _gone(database_url: str, pids: list[int], within: float = 10.0) -> bool:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            alive = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
            )
            if alive == 0:
                return True
            await asyncio.sleep(0.1)
        return False
    finally:
        await conn.close()


def _engine(database_url: str) -> AsyncEngine:
    return create_engine(database_url, DatabaseSettings(url=database_url, pool_size=2))


class TestShutdown:
    async def test_closing_the_pool_unbounded_waits_as_long_as_the_server_does(
        self, database_url: str
    ) -> None:
        # The hazard itself: SQLAlchemy's dispose waits for each connection's graceful close.
        engine = _engine(database_url)
        pids = await _backend_pids(engine, 2)
        async with _stopped(pids):
            dispose = asyncio.create_task(engine.dispose())
            done, _ = await asyncio.wait({dispose}, timeout=1.5)
            assert not done
            dispose.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispose
            # What the interrupted dispose had not reached is still idle in the pool; the
            # bounded close cuts it.
            await close_engine(engine, seconds=0.2)
        assert await _gone(database_url, pids)

    async def test_close_engine_gives_up_after_its_bound(self, database_url: str) -> None:
        engine = _engine(database_url)
        pids = await _backend_pids(engine, 2)
        async with _stopped(pids):
            started = time.monotonic()
            await close_engine(engine, seconds=0.5)
            took = time.monotonic() - started
        assert took < 3, f"closing took {took:.1f} s"
        # What it gave up on is not left open on the server once that runs again.
        assert await _gone(database_url, pids)

    async def test_the_app_shuts_down_within_the_bound_when_the_server_closes_nothing(
        self, database_url: str
    ) -> None:
        app = create_app(Settings(database=DatabaseSettings(url=database_url, pool_size=2)))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        pids = await _backend_pids(app.state.engine, 2)
        async with _stopped(pids):
            started = time.monotonic()
            await lifespan.__aexit__(None, None, None)
            took = time.monotonic() - started
        assert took < 8, f"shutdown took {took:.1f} s"
        assert await _gone(database_url, pids)

    async def test_a_healthy_pool_closes_at_once(self, database_url: str) -> None:
        engine = _engine(database_url)
        pids = await _backend_pids(engine, 2)
        started = time.monotonic()
        await close_engine(engine)
        assert time.monotonic() - started < 1
        assert await _gone(database_url, pids, within=2)
