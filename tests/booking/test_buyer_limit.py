"""The event's per-buyer limit: live tickets per buyer per showtime, across bookings."""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.booking.repository import BUYER_LIVE_UNITS
from tests.booking.factories import World, committed_world, create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _book(
    client: AsyncClient, world: World, buyer: User, headers: Headers, quantity: int
) -> Any:
    return await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": quantity},
        headers=headers(buyer),
    )


async def _hold(
    client: AsyncClient, world: World, buyer: User, headers: Headers, *seats: int
) -> Any:
    return await client.post(
        "/api/bookings/hold-seats",
        json={"showtime_id": str(world.showtime.id), "seat_ids": list(seats)},
        headers=headers(buyer),
    )


def _refused_by_limit(response: Any, live: int) -> None:
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "buyer_ticket_limit_reached"
    assert (body["max_tickets_per_buyer"], body["live_tickets"]) == (4, live)


class TestBuyerLimit:
    async def test_holds_and_bookings_count_until_released_or_cancelled(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0, max_tickets_per_buyer=4)
        buyer = await create_user(session)
        booked = await _book(client, world, buyer, auth_headers, 3)
        assert booked.status_code == 201, booked.json()
        _refused_by_limit(await _book(client, world, buyer, auth_headers, 2), live=3)
        seats = [s.id for s in world.seats[-3:]]
        _refused_by_limit(await _hold(client, world, buyer, auth_headers, *seats[:2]), live=3)
        held = await _hold(client, world, buyer, auth_headers, seats[0])
        assert held.status_code == 201, held.json()
        _refused_by_limit(await _hold(client, world, buyer, auth_headers, seats[1]), live=4)
        # A released hold and a cancelled booking give their places back to the buyer too.
        released = await client.post(
            "/api/bookings/release-seats",
            json={"hold_id": held.json()["id"]},
            headers=auth_headers(buyer),
        )
        assert released.status_code == 200
        cancelled = await client.post(
            f"/api/bookings/{booked.json()['id']}/cancel", headers=auth_headers(buyer)
        )
        assert cancelled.json()["status"] == "cancelled"
        assert (await _book(client, world, buyer, auth_headers, 4)).status_code == 201
        # Someone else is not counted against this buyer.
        other = await create_user(session)
        assert (await _book(client, world, other, auth_headers, 4)).status_code == 201

    async def test_an_unpaid_booking_counts_until_its_payment_window_passes(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=1500, max_tickets_per_buyer=4)
        buyer = await create_user(session)
        pending = await _book(client, world, buyer, auth_headers, 4)
        assert pending.json()["status"] == "pending_payment"
        _refused_by_limit(await _book(client, world, buyer, auth_headers, 1), live=4)
        await session.execute(
            text("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": pending.json()["id"]},
        )
        await session.execute(
            text(
                "UPDATE inventory_units SET held_until = now() - interval '1 second' "
                "WHERE booking_id = :id"
            ),
            {"id": pending.json()["id"]},
        )
        assert (await _book(client, world, buyer, auth_headers, 4)).status_code == 201

    async def test_seed_000s_add_seats_path_is_held_to_the_limit(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=1500, max_tickets_per_buyer=4)
        buyer = await create_user(session)
        booking = (await _book(client, world, buyer, auth_headers, 3)).json()
        path = f"/api/bookings/{booking['id']}/seats"
        seats = [s.id for s in world.seats[-2:]]
        refused = await client.post(
            path, json={"seat_ids": seats, "status": "locked"}, headers=auth_headers(buyer)
        )
        _refused_by_limit(refused, live=3)
        added = await client.post(
            path, json={"seat_ids": seats[:1], "status": "locked"}, headers=auth_headers(buyer)
        )
        assert added.status_code == 200, added.json()
        assert added.json()["quantity"] == 4

    async def test_organizers_set_and_lift_the_limit(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        path = f"/api/events/{world.event.id}"
        headers = auth_headers(world.organizer)
        assert (await client.get(path)).json()["max_tickets_per_buyer"] is None
        limited = await client.put(path, json={"max_tickets_per_buyer": 4}, headers=headers)
        assert limited.status_code == 200, limited.json()
        assert limited.json()["max_tickets_per_buyer"] == 4
        buyer = await create_user(session)
        _refused_by_limit(await _book(client, world, buyer, auth_headers, 5), live=0)
        for bad in (0, -1, 1001, "four"):
            refused = await client.put(path, json={"max_tickets_per_buyer": bad}, headers=headers)
            assert refused.status_code == 422
        lifted = await client.put(path, json={"max_tickets_per_buyer": None}, headers=headers)
        assert lifted.json()["max_tickets_per_buyer"] is None
        assert (await _book(client, world, buyer, auth_headers, 5)).status_code == 201


async def _live(
    committed: async_sessionmaker[AsyncSession], buyer: uuid.UUID, showtime: uuid.UUID
) -> int:
    async with committed() as session:
        counted = (
            await session.execute(
                text(BUYER_LIVE_UNITS.text.replace("$1", ":u").replace("$2", ":s")),
                {"u": buyer, "s": showtime},
            )
        ).scalar_one()
        sold = (
            await session.execute(
                text(
                    "SELECT count(*) FROM inventory_units u JOIN bookings b ON b.id = u.booking_id "
                    "WHERE b.user_id = :u AND u.showtime_id = :s AND u.state = 'sold'"
                ),
                {"u": buyer, "s": showtime},
            )
        ).scalar_one()
    assert counted == sold  # every live place of the buyer is a sold unit here (free)
    return int(counted)


class TestBuyerLimitRaces:
    async def test_one_buyer_racing_many_requests_never_passes_the_limit(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, (buyer,), _ = await committed_world(
            committed, 1, price_minor=0, max_tickets_per_buyer=4
        )
        results = await asyncio.gather(
            *(_book(committing_client, world, buyer, auth_headers, 2) for _ in range(12))
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201, 201] + [409] * 10, [r.json() for r in results]
        assert {r.json()["code"] for r in results if r.status_code == 409} == {
            "buyer_ticket_limit_reached"
        }
        assert await _live(committed, buyer.id, world.showtime.id) == 4

    async def test_the_add_seats_path_racing_bookings_never_passes_the_limit(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, (buyer,), _ = await committed_world(
            committed, 1, price_minor=0, max_tickets_per_buyer=4
        )
        # A free booking of 1 confirms itself: the add-seats path needs a pending one.
        async with committed() as session:
            await session.execute(
                text("UPDATE price_tiers SET price_minor = 100 WHERE showtime_id = :s"),
                {"s": world.showtime.id},
            )
            await session.commit()
        pending = [
            (await _book(committing_client, world, buyer, auth_headers, 1)).json() for _ in range(3)
        ]
        assert {b["status"] for b in pending} == {"pending_payment"}
        seats = [s.id for s in world.seats[-3:]]
        # One place is left under the limit; three bookings ask for one more seat each, and
        # two one-call bookings for a place, all at once.
        results = await asyncio.gather(
            *(
                committing_client.post(
                    f"/api/bookings/{booking['id']}/seats",
                    json={"seat_ids": [seat], "status": "locked"},
                    headers=auth_headers(buyer),
                )
                for booking, seat in zip(pending, seats, strict=True)
            ),
            *(_book(committing_client, world, buyer, auth_headers, 1) for _ in range(2)),
        )
        assert {r.status_code for r in results} <= {200, 201, 409}
        codes = {r.json()["code"] for r in results if r.status_code == 409}
        assert codes == {"buyer_ticket_limit_reached"}
        async with committed() as session:
            live = (
                await session.execute(
                    text(BUYER_LIVE_UNITS.text.replace("$1", ":u").replace("$2", ":s")),
                    {"u": buyer.id, "s": world.showtime.id},
                )
            ).scalar_one()
            taken = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM inventory_units u JOIN bookings b "
                        "ON b.id = u.booking_id WHERE b.user_id = :u AND u.state <> 'available'"
                    ),
                    {"u": buyer.id},
                )
            ).scalar_one()
        assert (live, taken) == (4, 4)
        assert sum(r.status_code in (200, 201) for r in results) == 1
