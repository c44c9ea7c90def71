import asyncio
from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from tests.booking.factories import World, create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _setup(maker: async_sessionmaker[AsyncSession]) -> tuple[World, User]:
    async with maker() as session:
        world = await create_world(session, rows=1, seats_per_row=6)
        buyer = await create_user(session)
        await session.commit()
    return world, buyer


class TestIdempotencyKey:
    async def test_a_repeat_returns_the_stored_response(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyer = await _setup(committed)
        headers = {**auth_headers(buyer), "Idempotency-Key": "hold-1"}
        body = {"showtime_id": str(world.showtime.id), "quantity": 2}
        first = await committing_client.post("/api/bookings/hold-seats", json=body, headers=headers)
        again = await committing_client.post("/api/bookings/hold-seats", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"

    async def test_a_repeat_with_another_body_is_refused(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyer = await _setup(committed)
        headers = {**auth_headers(buyer), "Idempotency-Key": "hold-2"}
        showtime = str(world.showtime.id)
        await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "quantity": 1},
            headers=headers,
        )
        other = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "quantity": 2},
            headers=headers,
        )
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"

    async def test_concurrent_repeats_run_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyer = await _setup(committed)
        headers = {**auth_headers(buyer), "Idempotency-Key": "hold-3"}
        body = {"showtime_id": str(world.showtime.id), "quantity": 1}
        responses = await asyncio.gather(
            *(
                committing_client.post("/api/bookings/hold-seats", json=body, headers=headers)
                for _ in range(8)
            )
        )
        assert {r.status_code for r in responses} <= {201, 409}
        assert {r.json()["id"] for r in responses if r.status_code == 201} != set()
        assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
        conflicts = [r.json()["code"] for r in responses if r.status_code == 409]
        assert set(conflicts) <= {"idempotency_in_progress"}
        async with committed() as session:
            holds = (await session.execute(text("SELECT count(*) FROM holds"))).scalar_one()
        assert holds == 1

    async def test_a_failed_request_releases_its_key(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyer = await _setup(committed)
        headers = {**auth_headers(buyer), "Idempotency-Key": "hold-4"}
        body = {"showtime_id": str(world.showtime.id), "quantity": 7}
        refused = await committing_client.post(
            "/api/bookings/hold-seats", json=body, headers=headers
        )
        assert refused.json()["code"] == "sold_out"
        async with committed() as session:
            keys = (
                await session.execute(text("SELECT count(*) FROM idempotency_keys"))
            ).scalar_one()
        assert keys == 0
