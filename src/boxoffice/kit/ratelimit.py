"""Fixed-window rate limits: in-process by default, shared through Redis when configured.

Usage: `await limiter.hit("login:ip:1.2.3.4", limit=50, window_seconds=900)` counts one
attempt and says whether it is allowed and, if not, how many seconds to wait. Keys are the
caller's business (prefix them by purpose). `enforce()` turns a refusal into a 429.
"""

import math
import time
from dataclasses import dataclass
from typing import Annotated, Protocol

import structlog
from fastapi import Depends, Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from boxoffice.config import Settings
from boxoffice.kit.errors import TooManyRequests

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    count: int
    """Hits in the current window, this one included."""
    retry_after: int
    """Seconds until the window resets (0 when allowed)."""


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_seconds: int) -> RateLimitResult:
        """Count one hit on `key`; allowed while the window holds at most `limit` hits."""
        ...

    async def reset(self, key: str) -> None:
        """Forget the hits on `key` (e.g. after a successful sign-in)."""
        ...

    async def aclose(self) -> None: ...


class InMemoryRateLimiter:
    """Counters in this process only: right for one process, per-process with several."""

    MAX_KEYS = 100_000
    """Past this many counters, those whose window has ended are dropped."""

    def __init__(self, clock: "Clock | None" = None) -> None:
        # key -> (window start, count, window length): each key keeps its own window, so
        # dropping ended ones never ends an hourly allowance after a minute's.
        self._windows: dict[str, tuple[float, int, int]] = {}
        self._clock = clock or time.monotonic

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> RateLimitResult:
        # No await inside: nothing else runs in this process between the read and the write.
        now = self._clock()
        started, count, _ = self._windows.get(key, (now, 0, window_seconds))
        if now - started >= window_seconds:
            started, count = now, 0
        count += 1
        self._windows[key] = (started, count, window_seconds)
        if len(self._windows) > self.MAX_KEYS:
            self._evict(now)
        if count <= limit:
            return RateLimitResult(allowed=True, count=count, retry_after=0)
        wait = math.ceil(started + window_seconds - now)
        return RateLimitResult(allowed=False, count=count, retry_after=max(1, wait))

    def _evict(self, now: float) -> None:
        for key in [k for k, (s, _, w) in self._windows.items() if now - s >= w]:
            del self._windows[key]

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    async def aclose(self) -> None:
        self._windows.clear()


class Clock(Protocol):
    def __call__(self) -> float: ...


class RedisRateLimiter:
    """Counters in Redis, shared by every API process: one round trip per hit.

    While Redis cannot be reached, each process counts on its own (`InMemoryRateLimiter`)
    rather than failing the requests it guards or letting them all through: limits stay in
    force, per process, until Redis is back. After a failure Redis is left alone for
    `retry_seconds` (a circuit breaker): a Redis that does not answer would otherwise cost
    every rate-limited request its socket timeout.
    """

    def __init__(
        self,
        redis: "Redis",
        prefix: str = "boxoffice:rl:",
        *,
        retry_seconds: float = 5.0,
        clock: "Clock | None" = None,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._fallback = InMemoryRateLimiter()
        self._retry_seconds = retry_seconds
        self._clock = clock or time.monotonic
        self._down_until: float | None = None
        """While set: Redis failed, and is not tried again before this time."""

    @classmethod
    def from_url(cls, url: str, prefix: str = "boxoffice:rl:") -> "RedisRateLimiter":
        # Bounded: a Redis that does not answer must not hold a sign-in for the OS's
        # connect timeout (minutes).
        return cls(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1), prefix)

    @property
    def store_available(self) -> bool:
        """False while the breaker is open (Redis failed and is not being tried)."""
        return self._down_until is None or self._clock() >= self._down_until

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> RateLimitResult:
        if self.store_available:
            try:
                result = await self._hit(key, limit=limit, window_seconds=window_seconds)
            except RedisError as exc:
                self._failed(exc)
            else:
                self._recovered()
                return result
        return await self._fallback.hit(key, limit=limit, window_seconds=window_seconds)

    def _failed(self, exc: RedisError) -> None:
        if self._down_until is None:
            log.warning(
                "rate_limit_store_unavailable",
                error=f"{type(exc).__name__}: {exc}",
                retry_seconds=self._retry_seconds,
            )
        self._down_until = self._clock() + self._retry_seconds

    def _recovered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            log.info("rate_limit_store_recovered")

    async def _hit(self, key: str, *, limit: int, window_seconds: int) -> RateLimitResult:
        name = self._prefix + key
        # MULTI: create the window with its expiry if absent, count, read the time left.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(name, 0, ex=window_seconds, nx=True)
            pipe.incr(name)
            pipe.ttl(name)
            _, count, ttl = await pipe.execute()
        if count <= limit:
            return RateLimitResult(allowed=True, count=int(count), retry_after=0)
        wait = int(ttl) if int(ttl) > 0 else window_seconds
        return RateLimitResult(allowed=False, count=int(count), retry_after=wait)

    async def reset(self, key: str) -> None:
        await self._fallback.reset(key)
        if not self.store_available:
            return
        try:
            await self._redis.delete(self._prefix + key)
        except RedisError as exc:
            self._failed(exc)

    async def aclose(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(settings: Settings) -> RateLimiter:
    """Redis when `BOXOFFICE_REDIS_URL` is set, else in-process counters."""
    if settings.redis.url:
        return RedisRateLimiter.from_url(settings.redis.url)
    return InMemoryRateLimiter()


async def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter, made on first use (tests may set `app.state.rate_limiter`)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = create_rate_limiter(state.settings)
        state.rate_limiter = limiter
    return limiter


Limiter = Annotated[RateLimiter, Depends(get_rate_limiter)]
"""The app's rate limiter, as a route dependency."""


async def enforce(
    limiter: RateLimiter, key: str, *, limit: int, window_seconds: int, what: str
) -> None:
    """Count a hit; raise 429 `rate_limited` with `Retry-After` when over the limit."""
    result = await limiter.hit(key, limit=limit, window_seconds=window_seconds)
    if not result.allowed:
        raise TooManyRequests(
            f"Too many {what}; retry in {result.retry_after} s",
            retry_after=result.retry_after,
            extra={"retry_after": result.retry_after},
        )
