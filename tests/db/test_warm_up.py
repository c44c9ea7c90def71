"""Pool warm-up at startup: the connections are open before the first request."""

import asyncio
import contextlib
import time

from boxoffice.config import DatabaseSettings
from boxoffice.db.engine import create_engine, warm_up


class TestWarmUp:
    async def test_opens_the_pool_before_any_request(self, database_url: str) -> None:
        engine = create_engine(database_url, DatabaseSettings(url=database_url, pool_size=3))
        try:
            assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
            assert await warm_up(engine, 3) == 3
            # Three distinct connections, all back in the pool and idle.
            assert engine.pool.checkedin() == 3  # type: ignore[attr-defined]
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        finally:
            await engine.dispose()

    async def test_an_unreachable_server_is_left_for_later(self) -> None:
        dsn = "postgresql://nobody@127.0.0.1:1/none"
        engine = create_engine(dsn, DatabaseSettings(url=dsn, pool_size=2))
        try:
            assert await warm_up(engine, 2) == 0
            assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
        finally:
            await engine.dispose()

    async def test_a_server_that_never_answers_is_given_up_on_within_the_bound(self) -> None:
        # 10.255.255.1 is not routed: a connection attempt hangs (or fails at once where the
        # network says so). The app bounds warm-up the same way; the engine stays usable.
        dsn = "postgresql://nobody@10.255.255.1:5432/none"
        engine = create_engine(dsn, DatabaseSettings(url=dsn, pool_size=2))
        try:
            started = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    assert await warm_up(engine, 2) == 0
            assert time.monotonic() - started < 5
            assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
        finally:
            await engine.dispose()
