from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import boxoffice.booking.jobs  # noqa: F401  (registers the sweeper)
from boxoffice.auth.models import User
from boxoffice.booking.jobs import SWEEP
from boxoffice.kit.jobs import Worker, enqueue
from tests.booking.factories import committed_world

Headers = Callable[[User], dict[str, str]]


class TestExpirySweeper:
    async def test_lapsed_holds_and_bookings_are_expired_and_their_units_freed(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, (holder, booker), _ = await committed_world(committed, 2)
        showtime = str(world.showtime.id)
        hold = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "quantity": 2},
            headers=auth_headers(holder),
        )
        booking = await committing_client.post(
            "/api/bookings",
            json={"showtime_id": showtime, "quantity": 3},
            headers=auth_headers(booker),
        )
        async with committed() as session:
            await session.execute(text("UPDATE holds SET expires_at = now() - interval '1 second'"))
            await session.execute(
                text("UPDATE bookings SET expires_at = now() - interval '1 second'")
            )
            await session.execute(
                text(
                    "UPDATE inventory_units SET held_until = now() - interval '1 second' "
                    "WHERE state = 'held'"
                )
            )
            await enqueue(session, SWEEP)
            await session.commit()
        assert await Worker(committed).run_until_idle() >= 1
        async with committed() as session:
            hold_status = (
                await session.execute(
                    text("SELECT status FROM holds WHERE id = :id"), {"id": hold.json()["id"]}
                )
            ).scalar_one()
            booking_status = (
                await session.execute(
                    text("SELECT status FROM bookings WHERE id = :id"),
                    {"id": booking.json()["id"]},
                )
            ).scalar_one()
            states = (
                await session.execute(
                    text("SELECT DISTINCT state FROM inventory_units WHERE showtime_id = :s"),
                    {"s": world.showtime.id},
                )
            ).scalars()
            topics = (
                await session.execute(text("SELECT topic FROM outbox_events ORDER BY topic"))
            ).scalars()
            assert hold_status == "expired"
            assert booking_status == "expired"
            assert list(states) == ["available"]
            assert set(topics) == {"booking.expired", "inventory.units_released"}

    async def test_a_buyer_holding_again_leaves_their_lapsed_hold_to_the_sweeper(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # A buyer's hold lapses and they hold other seats. The lapsed hold stays for the
        # sweeper, which frees its seats with it and tells the waitlist; ending it on the way
        # (as holding once did) left its seats held under an expired hold, never swept.
        world, (buyer,), _ = await committed_world(committed, 1)
        showtime = str(world.showtime.id)
        first = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "seat_ids": [world.seats[0].id]},
            headers=auth_headers(buyer),
        )
        async with committed() as session:
            await session.execute(text("UPDATE holds SET expires_at = now() - interval '1 second'"))
            await session.execute(
                text("UPDATE inventory_units SET held_until = now() - interval '1 second'")
            )
            await session.commit()
        second = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "seat_ids": [world.seats[1].id]},
            headers=auth_headers(buyer),
        )
        assert second.status_code == 201
        async with committed() as session:
            await enqueue(session, SWEEP)
            await session.commit()
        assert await Worker(committed).run_until_idle() >= 1
        async with committed() as session:
            statuses = {
                str(row[0]): row[1]
                for row in await session.execute(text("SELECT id, status FROM holds"))
            }
            held = (
                await session.execute(
                    text("SELECT hold_id FROM inventory_units WHERE state = 'held'")
                )
            ).scalars()
            released = (
                await session.execute(
                    text(
                        "SELECT payload FROM outbox_events WHERE topic = 'inventory.units_released'"
                    )
                )
            ).scalar_one()
        assert statuses == {
            first.json()["id"]: "expired",
            second.json()["id"]: "active",
        }
        assert [str(h) for h in held] == [second.json()["id"]]
        assert released["unit_ids"] == [u["unit_id"] for u in first.json()["units"]]
