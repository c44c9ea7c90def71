"""The rate limiter: in-process and Redis implementations behave the same."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from boxoffice.config import RedisSettings, Settings
from boxoffice.kit.errors import TooManyRequests
from boxoffice.kit.ratelimit import (
    InMemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    create_rate_limiter,
    enforce,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_limiter() -> AsyncIterator[RedisRateLimiter]:
    limiter = RedisRateLimiter(Redis.from_url(REDIS_URL), prefix=f"test:{uuid.uuid4().hex}:")
    yield limiter
    await limiter.aclose()


@pytest.fixture(params=["memory", "redis", "redis_unreachable"])
async def limiter(
    request: pytest.FixtureRequest, redis_limiter: RedisRateLimiter
) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield InMemoryRateLimiter()
    elif request.param == "redis":
        yield redis_limiter
    else:
        # Nothing listens on port 1: the limiter counts in-process until Redis is back.
        unreachable = RedisRateLimiter.from_url("redis://127.0.0.1:1/0")
        yield unreachable
        await unreachable.aclose()


class TestLimiter:
    async def test_allows_up_to_the_limit_then_refuses(self, limiter: RateLimiter) -> None:
        results = [await limiter.hit("k", limit=3, window_seconds=60) for _ in range(5)]
        assert [r.allowed for r in results] == [True, True, True, False, False]
        assert [r.count for r in results] == [1, 2, 3, 4, 5]
        assert 1 <= results[-1].retry_after <= 60

    async def test_keys_are_independent(self, limiter: RateLimiter) -> None:
        await limiter.hit("a", limit=1, window_seconds=60)
        assert (await limiter.hit("b", limit=1, window_seconds=60)).allowed

    async def test_reset_forgets_the_hits(self, limiter: RateLimiter) -> None:
        await limiter.hit("k", limit=1, window_seconds=60)
        await limiter.reset("k")
        assert (await limiter.hit("k", limit=1, window_seconds=60)).allowed

    async def test_enforce_raises_429_with_retry_after(self, limiter: RateLimiter) -> None:
        await enforce(limiter, "k", limit=1, window_seconds=30, what="tries")
        with pytest.raises(TooManyRequests) as raised:
            await enforce(limiter, "k", limit=1, window_seconds=30, what="tries")
        assert raised.value.code == "rate_limited"
        assert 1 <= int(raised.value.headers["Retry-After"]) <= 30


class TestInMemoryWindow:
    async def test_window_resets_after_it_elapses(self) -> None:
        clock = FakeClock()
        limiter = InMemoryRateLimiter(clock=clock)
        await limiter.hit("k", limit=1, window_seconds=60)
        clock.now += 45
        refused = await limiter.hit("k", limit=1, window_seconds=60)
        assert not refused.allowed
        assert refused.retry_after == 15
        clock.now += 15
        assert (await limiter.hit("k", limit=1, window_seconds=60)).allowed

    async def test_dropping_ended_windows_keeps_a_longer_one_running(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A flash sale's minute counters (holds) overflow the table while an hourly one
        # (offers by e-mail) is half spent: only the ended minute windows go.
        monkeypatch.setattr(InMemoryRateLimiter, "MAX_KEYS", 3)
        clock = FakeClock()
        limiter = InMemoryRateLimiter(clock=clock)
        await limiter.hit("hourly", limit=1, window_seconds=3600)
        for n in range(3):
            await limiter.hit(f"minute-{n}", limit=5, window_seconds=60)
        clock.now += 120
        await limiter.hit("minute-new", limit=5, window_seconds=60)  # over the limit: evicts

        assert not (await limiter.hit("hourly", limit=1, window_seconds=3600)).allowed
        assert (await limiter.hit("minute-0", limit=1, window_seconds=60)).count == 1


class TestRedisWindow:
    async def test_counter_expires_with_its_window(self, redis_limiter: RedisRateLimiter) -> None:
        await redis_limiter.hit("k", limit=5, window_seconds=60)
        redis = Redis.from_url(REDIS_URL)
        try:
            ttl = await redis.ttl(redis_limiter._prefix + "k")
        finally:
            await redis.aclose()
        assert 0 < ttl <= 60

    async def test_counts_are_shared_between_instances(
        self, redis_limiter: RedisRateLimiter
    ) -> None:
        other = RedisRateLimiter(Redis.from_url(REDIS_URL), prefix=redis_limiter._prefix)
        try:
            await redis_limiter.hit("shared", limit=1, window_seconds=60)
            assert not (await other.hit("shared", limit=1, window_seconds=60)).allowed
        finally:
            await other.aclose()


class SwitchableRedis:
    """A TCP proxy in front of the real Redis that can go silent, as a hung Redis does:
    connections are accepted and what they send is read and counted, but never answered
    nor forwarded. Counting what arrives shows whether the limiter still tries Redis."""

    def __init__(self) -> None:
        self.silent = False
        self.bytes_received = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        pump: asyncio.Task[None] | None = None
        try:
            while data := await reader.read(65536):
                self.bytes_received += len(data)
                if self.silent:
                    continue
                if upstream is None:
                    upstream = await asyncio.open_connection("127.0.0.1", 6379)
                    pump = asyncio.create_task(self._pump(upstream[0], writer))
                    self._tasks.add(pump)
                upstream[1].write(data)
                await upstream[1].drain()
        except ConnectionError:
            pass
        finally:
            if pump is not None:
                pump.cancel()
            if upstream is not None:
                upstream[1].close()
            writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if not self.silent:
                    sink.write(data)
                    await sink.drain()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def switchable() -> AsyncIterator[tuple[SwitchableRedis, RedisRateLimiter, FakeClock]]:
    proxy = SwitchableRedis()
    url = await proxy.start()
    clock = FakeClock()
    limiter = RedisRateLimiter(
        Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3),
        prefix=f"test:{uuid.uuid4().hex}:",
        retry_seconds=5,
        clock=clock,
    )
    yield proxy, limiter, clock
    await limiter.aclose()
    await proxy.stop()


class TestRedisOutage:
    async def test_a_silent_redis_is_left_alone_until_the_retry_interval_passes(
        self, switchable: tuple[SwitchableRedis, RedisRateLimiter, FakeClock]
    ) -> None:
        proxy, limiter, clock = switchable
        assert (await limiter.hit("k", limit=3, window_seconds=60)).count == 1
        proxy.silent = True
        # The first hit after Redis went silent waits out the socket timeout, then counts
        # in process; the breaker is open from then on.
        assert (await limiter.hit("k", limit=3, window_seconds=60)).allowed
        assert not limiter.store_available
        tried = proxy.bytes_received
        results = [await limiter.hit("k", limit=3, window_seconds=60) for _ in range(4)]
        await limiter.reset("other")
        assert proxy.bytes_received == tried, "Redis was tried while the breaker was open"
        # In process the limit still holds: 1 (silent) + 4 hits, limit 3.
        assert [r.allowed for r in results] == [True, True, False, False]
        clock.now += 5
        assert limiter.store_available
        await limiter.hit("k", limit=3, window_seconds=60)
        assert proxy.bytes_received > tried, "Redis was not tried again after the interval"
        assert not limiter.store_available  # still silent: open again

    async def test_counting_returns_to_redis_when_it_answers_again(
        self, switchable: tuple[SwitchableRedis, RedisRateLimiter, FakeClock]
    ) -> None:
        proxy, limiter, clock = switchable
        await limiter.hit("k", limit=10, window_seconds=60)
        proxy.silent = True
        await limiter.hit("k", limit=10, window_seconds=60)
        assert not limiter.store_available
        proxy.silent = False
        clock.now += 5
        result = await limiter.hit("k", limit=10, window_seconds=60)
        assert limiter.store_available
        # Redis's own counter: the hit before the outage and this one.
        assert result.count == 2
        other_process = RedisRateLimiter(Redis.from_url(REDIS_URL), prefix=limiter._prefix)
        try:
            assert (await other_process.hit("k", limit=10, window_seconds=60)).count == 3
        finally:
            await other_process.aclose()


class TestFactory:
    async def test_redis_when_configured_else_memory(self) -> None:
        in_memory = create_rate_limiter(Settings())
        assert isinstance(in_memory, InMemoryRateLimiter)
        shared = create_rate_limiter(Settings(redis=RedisSettings(url=REDIS_URL)))
        assert isinstance(shared, RedisRateLimiter)
        await shared.aclose()
