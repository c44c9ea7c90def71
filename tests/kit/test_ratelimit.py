"""The rate limiter: in-process and Redis implementations behave the same."""

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


class TestFactory:
    async def test_redis_when_configured_else_memory(self) -> None:
        in_memory = create_rate_limiter(Settings())
        assert isinstance(in_memory, InMemoryRateLimiter)
        shared = create_rate_limiter(Settings(redis=RedisSettings(url=REDIS_URL)))
        assert isinstance(shared, RedisRateLimiter)
        await shared.aclose()
