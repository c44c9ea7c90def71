"""Changing a showtime's prices: PUT /api/showtimes/{id}/price-tiers/{tier_id}."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import PriceTier, PriceTierChange
from boxoffice.config import BookingSettings, Settings
from boxoffice.kit.outbox import OutboxEvent
from tests.booking.factories import World, create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _tier(session: AsyncSession, world: World) -> PriceTier:
    """The reserved section's tier."""
    assert world.reserved is not None
    tier = await session.scalar(
        select(PriceTier).where(
            PriceTier.showtime_id == world.showtime.id,
            PriceTier.section_id == world.reserved.id,
        )
    )
    assert tier is not None
    return tier


async def _hold(client: AsyncClient, headers: dict[str, str], world: World, seat: int) -> str:
    response = await client.post(
        "/api/bookings/hold-seats",
        json={"showtime_id": str(world.showtime.id), "seat_ids": [world.seats[seat].id]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    hold_id: str = response.json()["id"]
    return hold_id


async def _book(client: AsyncClient, headers: dict[str, str], hold_id: str) -> dict[str, Any]:
    booked = await client.post("/api/bookings/create", json={"hold_id": hold_id}, headers=headers)
    assert booked.status_code == 201, booked.text
    body: dict[str, Any] = booked.json()
    return body


async def _committed_world(
    committed: async_sessionmaker[AsyncSession], buyers: int
) -> tuple[World, PriceTier, list[User]]:
    async with committed() as session:
        world = await create_world(session, price_minor=2500, ga_capacity=10)
        users = [await create_user(session) for _ in range(buyers)]
        await session.commit()
        return world, await _tier(session, world), users


class TestChangePrice:
    """Committed for real: holds and changes are ordered by their transactions' times."""

    async def test_new_holds_pay_the_new_price_and_the_seat_map_shows_it(
        self,
        committing_app: FastAPI,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        client = committing_client
        committing_app.state.settings = settings.model_copy(
            update={"booking": BookingSettings(seat_map_refresh_ms=0)}
        )
        world, tier, (early, holding, late) = await _committed_world(committed, 3)
        before = await _book(
            client, auth_headers(early), await _hold(client, auth_headers(early), world, 0)
        )
        held_before = await _hold(client, auth_headers(holding), world, 1)
        seats = f"/api/showtimes/{world.showtime.id}/seats"
        map_before = await client.get(seats)

        changed = await client.put(
            f"/api/showtimes/{world.showtime.id}/price-tiers/{tier.id}",
            json={"price_minor": 4000, "name": "Stalls (regular)"},
            headers=auth_headers(world.organizer),
        )
        booked_from_old_hold = await _book(client, auth_headers(holding), held_before)
        after = await _book(
            client, auth_headers(late), await _hold(client, auth_headers(late), world, 2)
        )
        map_after = await client.get(seats, headers={"If-None-Match": map_before.headers["ETag"]})
        early_now = await client.get(f"/api/bookings/{before['id']}", headers=auth_headers(early))

        assert changed.status_code == 200, changed.text
        tiers = {t["id"]: t for t in changed.json()["price_tiers"]}
        assert tiers[str(tier.id)]["price_minor"] == 4000
        assert tiers[str(tier.id)]["name"] == "Stalls (regular)"
        assert before["total_minor"] == 2500
        assert early_now.json()["total_minor"] == 2500
        # Held before the rise: pays what it was held at.
        assert booked_from_old_hold["total_minor"] == 2500
        assert after["total_minor"] == 4000
        assert map_after.status_code == 200
        assert map_after.headers["ETag"] != map_before.headers["ETag"]
        reserved = next(s for s in map_after.json()["sections"] if s["kind"] == "reserved")
        assert reserved["price_tier"]["price_minor"] == 4000
        assert reserved["price_tier"]["name"] == "Stalls (regular)"
        async with committed() as session:
            event = await session.scalar(
                select(OutboxEvent).where(OutboxEvent.topic == "price_tier.changed")
            )
        assert event is not None
        assert event.payload["previous_price_minor"] == 2500
        assert event.payload["price_minor"] == 4000

    async def test_a_hold_pays_the_price_it_was_placed_at_or_a_lower_one(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        client = committing_client
        world, tier, (twice, dropped) = await _committed_world(committed, 2)
        url = f"/api/showtimes/{world.showtime.id}/price-tiers/{tier.id}"
        owner = auth_headers(world.organizer)
        held_twice = await _hold(client, auth_headers(twice), world, 0)
        for price in (4000, 5000):
            assert (await client.put(url, json={"price_minor": price}, headers=owner)).is_success
        held_dropped = await _hold(client, auth_headers(dropped), world, 1)  # at 5000
        assert (await client.put(url, json={"price_minor": 3000}, headers=owner)).is_success

        # Held at 2500 before two rises; held at 5000, then the price fell to 3000.
        assert (await _book(client, auth_headers(twice), held_twice))["total_minor"] == 2500
        assert (await _book(client, auth_headers(dropped), held_dropped))["total_minor"] == 3000
        async with committed() as session:
            changes = await session.execute(
                select(PriceTierChange.previous_price_minor, PriceTierChange.price_minor)
                .where(PriceTierChange.price_tier_id == tier.id)
                .order_by(PriceTierChange.id)
            )
            assert [tuple(c) for c in changes.all()] == [(2500, 4000), (4000, 5000), (5000, 3000)]

    async def test_the_same_price_changes_nothing(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=2500)
        tier = await _tier(session, world)

        same = await client.put(
            f"/api/showtimes/{world.showtime.id}/price-tiers/{tier.id}",
            json={"price_minor": 2500},
            headers=auth_headers(world.organizer),
        )

        assert same.status_code == 200
        logged = await session.scalar(
            select(func.count()).where(PriceTierChange.price_tier_id == tier.id)
        )
        assert logged == 0
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == "price_tier.changed")
        )
        assert event is None


class TestChangePriceRefused:
    async def test_bad_input_wrong_tier_and_wrong_caller(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, other_world = await create_world(session), await create_world(session)
        tier, others_tier = await _tier(session, world), await _tier(session, other_world)
        stranger = await create_user(session, role=Role.organizer)
        url = f"/api/showtimes/{world.showtime.id}/price-tiers"
        owner = auth_headers(world.organizer)

        cases = [
            (await client.put(f"{url}/{tier.id}", json={}, headers=owner), 422, "validation_error"),
            (
                await client.put(f"{url}/{tier.id}", json={"price_minor": -1}, headers=owner),
                422,
                "validation_error",
            ),
            (
                await client.put(f"{url}/{tier.id}", json={"name": ""}, headers=owner),
                422,
                "validation_error",
            ),
            (
                await client.put(f"{url}/{others_tier.id}", json={"price_minor": 1}, headers=owner),
                404,
                "price_tier_not_found",
            ),
            (
                await client.put(
                    f"{url}/{tier.id}", json={"price_minor": 1}, headers=auth_headers(stranger)
                ),
                403,
                "not_event_owner",
            ),
        ]
        for response, status, code in cases:
            assert response.status_code == status, response.text
            assert response.json()["code"] == code
        await session.refresh(tier)
        assert tier.price_minor == 2500

    async def test_a_cancelled_showtime_keeps_its_prices(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        tier = await _tier(session, world)
        owner = auth_headers(world.organizer)
        await client.post(f"/api/showtimes/{world.showtime.id}/cancel", headers=owner)

        refused = await client.put(
            f"/api/showtimes/{world.showtime.id}/price-tiers/{tier.id}",
            json={"price_minor": 1},
            headers=owner,
        )

        assert refused.status_code == 409
        assert refused.json()["code"] == "showtime_cancelled"
