"""Sign-in attempts are limited per account and per IP, with 429 and Retry-After."""

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.config import Settings
from boxoffice.kit.ratelimit import RedisRateLimiter
from tests.factories import PASSWORD, configure, create_user


@pytest.fixture
def strict(app: FastAPI, settings: Settings) -> FastAPI:
    auth = settings.auth.model_copy(
        update={"login_attempts_per_account": 3, "login_attempts_per_ip": 5}
    )
    app.state.settings = settings.model_copy(update={"auth": auth})
    return app


@pytest.fixture
async def shared_limiter(strict: FastAPI) -> AsyncIterator[RedisRateLimiter]:
    limiter = RedisRateLimiter(
        Redis.from_url("redis://127.0.0.1:6379/0"), prefix=f"test:{uuid.uuid4().hex}:"
    )
    strict.state.rate_limiter = limiter
    yield limiter
    await limiter.aclose()


async def _attempt(client: AsyncClient, email: str) -> int:
    response = await client.post(
        "/api/auth/login", json={"email": email, "password": "wrong-password!"}
    )
    return response.status_code


class TestLoginRateLimit:
    async def test_per_account_limit(
        self, strict: FastAPI, client: AsyncClient, session: AsyncSession
    ) -> None:
        user = await create_user(session)
        assert [await _attempt(client, user.email) for _ in range(3)] == [401, 401, 401]
        # Even the right password waits now: the account is under attack.
        blocked = await client.post(
            "/api/auth/login", json={"email": user.email.upper(), "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "rate_limited"
        assert 1 <= int(blocked.headers["Retry-After"]) <= 900

    async def test_per_ip_limit_across_accounts(self, strict: FastAPI, client: AsyncClient) -> None:
        statuses = [await _attempt(client, f"x{i}@example.com") for i in range(6)]
        assert statuses == [401] * 5 + [429]

    async def test_limits_are_shared_through_redis(
        self, shared_limiter: RedisRateLimiter, client: AsyncClient, session: AsyncSession
    ) -> None:
        user = await create_user(session)
        statuses = [await _attempt(client, user.email) for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        other_process = RedisRateLimiter(
            Redis.from_url("redis://127.0.0.1:6379/0"), prefix=shared_limiter._prefix
        )
        try:
            counted = await other_process.hit(
                f"login:account:{user.email}", limit=3, window_seconds=900
            )
        finally:
            await other_process.aclose()
        assert counted.count == 5  # four requests through the API, then this one

    async def test_a_redis_that_is_down_neither_fails_sign_in_nor_lifts_the_limit(
        self, strict: FastAPI, client: AsyncClient, session: AsyncSession
    ) -> None:
        # Nothing listens on port 1: every hit fails to connect, and the process counts alone.
        limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0")
        strict.state.rate_limiter = limiter
        try:
            user = await create_user(session)
            signed_in = await client.post(
                "/api/auth/login", json={"email": user.email, "password": PASSWORD}
            )
            statuses = [await _attempt(client, user.email) for _ in range(3)]
        finally:
            await limiter.aclose()
        assert signed_in.status_code == 200
        assert statuses == [401, 401, 429]


class TestRegistrationRateLimit:
    async def test_per_ip(self, app: FastAPI, settings: Settings, client: AsyncClient) -> None:
        configure(app, settings, "auth", register_per_ip=2)
        statuses = [
            (
                await client.post(
                    "/api/auth/register",
                    json={"email": f"r{i}-{uuid.uuid4().hex[:6]}@example.com", "password": "x"},
                )
            ).status_code
            for i in range(3)
        ]
        # Counted before the password rules: refused attempts count too.
        assert statuses == [422, 422, 429]
