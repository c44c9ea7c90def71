"""Real commits, real races: buyers hammer one showtime, then the database is checked."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.booking import service as booking_service
from boxoffice.config import Settings, WaitlistSettings
from boxoffice.waitlist import service as waitlist
from tests.booking.factories import (
    World,
    check_stock,
    check_winners,
    committed_world,
    held_units,
    post_all,
)
from tests.factories import configure, until_waiting_for_locks

Headers = Callable[[User], dict[str, str]]
BUYERS = 200


async def _check_no_oversell(
    maker: async_sessionmaker[AsyncSession], world: World, responses: list[Response], capacity: int
) -> list[dict[str, Any]]:
    refusals = [r for r in responses if r.status_code != 201]
    assert all(r.status_code == 409 for r in refusals), {r.status_code for r in refusals}
    assert len(await check_winners(maker, world, responses)) <= capacity
    return [r.json() for r in responses if r.status_code == 201]


class TestExplicitSeatRace:
    async def test_overlapping_picks_never_share_a_seat(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(committed, BUYERS, rows=10, seats_per_row=10)
        rng = random.Random(7)
        seat_ids = [s.id for s in world.seats]
        # Everyone wants seats near the front: heavy overlap.
        bodies = [
            {
                "showtime_id": str(world.showtime.id),
                "seat_ids": rng.sample(seat_ids[:40], rng.randint(1, 4)),
            }
            for _ in users
        ]
        responses = await post_all(committing_client, users, auth_headers, bodies)
        wins = await _check_no_oversell(committed, world, responses, 100)
        assert wins
        refused = [r.json() for r in responses if r.status_code == 409]
        assert all(r["code"] == "seats_unavailable" and r["unavailable_seats"] for r in refused)


class TestGeneralAdmissionRace:
    async def test_successes_never_exceed_the_places(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(
            committed, BUYERS, rows=0, seats_per_row=0, ga_capacity=100
        )
        assert world.floor is not None
        rng = random.Random(11)
        bodies = [
            {
                "showtime_id": str(world.showtime.id),
                "section_id": str(world.floor.id),
                "quantity": rng.randint(1, 3),
            }
            for _ in users
        ]
        responses = await post_all(committing_client, users, auth_headers, bodies)
        wins = await _check_no_oversell(committed, world, responses, 100)
        assert sum(len(w["units"]) for w in wins) > 50
        assert all(r.json()["code"] == "sold_out" for r in responses if r.status_code == 409)


class TestOneBuyerRace:
    async def test_concurrent_holds_of_one_buyer_leave_one_live_hold(
        self,
        committing_app: FastAPI,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        # 80 holds in a few seconds from one account: past the per-minute allowance.
        configure(committing_app, settings, "booking", hold_attempts_per_minute=0)
        world, users, _ = await committed_world(committed, 1, rows=4, seats_per_row=10)
        buyer = users[0]
        # Twenty tabs of one buyer, each after different seats: the one-live-hold rule must
        # hold although no request sees another's hold before it commits.
        bodies = [
            {"showtime_id": str(world.showtime.id), "seat_ids": [seat.id, world.seats[i + 20].id]}
            for i, seat in enumerate(world.seats[:20])
        ]
        for _round in range(4):
            responses = await post_all(committing_client, [buyer] * 20, auth_headers, bodies)
            wins = await _check_no_oversell(committed, world, responses, 40)
            assert len(wins) == 1
            assert {r.json()["code"] for r in responses if r.status_code == 409} == {
                "hold_limit_reached"
            }
            released = await committing_client.post(
                "/api/bookings/release-seats",
                json={"hold_id": wins[0]["id"]},
                headers=auth_headers(buyer),
            )
            assert released.status_code == 200
        async with committed() as session:
            holds = (
                await session.execute(
                    text("SELECT status, count(*) FROM holds WHERE user_id = :u GROUP BY status"),
                    {"u": buyer.id},
                )
            ).all()
        assert dict(holds) == {"released": 4}


class TestBestAvailableRace:
    async def test_blocks_are_adjacent_and_never_shared(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(committed, BUYERS, rows=10, seats_per_row=10)
        rng = random.Random(5)
        bodies = [
            {"showtime_id": str(world.showtime.id), "quantity": rng.randint(1, 4)} for _ in users
        ]
        responses = await post_all(committing_client, users, auth_headers, bodies)
        wins = await _check_no_oversell(committed, world, responses, 100)
        assert sum(len(w["units"]) for w in wins) > 80
        for win in wins:
            rows = {u["label"].split(" ")[1].split("-")[0] for u in win["units"]}
            numbers = sorted(int(u["label"].split("-")[1]) for u in win["units"])
            assert len(rows) == 1
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))

    async def test_accessible_seats_go_only_to_those_who_ask_and_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(committed, 120, rows=6, seats_per_row=10)
        # The front two rows (20 seats) are wheelchair-accessible; 40 seats are not.
        accessible = {s.id for s in world.seats[:20]}
        async with committed() as session:
            await session.execute(
                text("UPDATE seats SET accessible = true WHERE id = ANY(:ids)"),
                {"ids": list(accessible)},
            )
            await session.commit()
        rng = random.Random(11)
        bodies = [
            {
                "showtime_id": str(world.showtime.id),
                "quantity": rng.randint(1, 3),
                "accessible": i % 2 == 0,
                "allow_split": rng.random() < 0.3,
            }
            for i in range(len(users))
        ]

        responses = await post_all(committing_client, users, auth_headers, bodies)

        wins = await _check_no_oversell(committed, world, responses, 60)
        for body, response in zip(bodies, responses, strict=True):
            if response.status_code == 201:
                got = {u["seat_id"] in accessible for u in response.json()["units"]}
                assert got == {body["accessible"]}
        # Both kinds sell out: 60 buyers each ask for 1-3 of 20 and of 40 seats.
        assert sum(len(w["units"]) for w in wins) > 50


class TestOneCallBookingRace:
    async def test_bookings_that_change_stock_several_times_do_not_deadlock(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        """A free one-call booking changes stock three times in one transaction (claim,
        move under the booking, sell); each change bumps the showtime's seat-map version.
        With room for everyone, every buyer gets a confirmed booking: no 409 from two
        transactions locking version rows in opposite orders (a deadlock)."""
        world, users, _ = await committed_world(
            committed, 60, rows=0, seats_per_row=0, ga_capacity=400, price_minor=0
        )
        assert world.floor is not None
        rng = random.Random(17)
        quantities = [rng.randint(1, 3) for _ in users]
        bodies = [
            {
                "showtime_id": str(world.showtime.id),
                "section_id": str(world.floor.id),
                "quantity": quantity,
            }
            for quantity in quantities
        ]
        responses = await post_all(committing_client, users, auth_headers, bodies, "/api/bookings")
        assert [r.status_code for r in responses] == [201] * len(users), [
            r.json()["code"] for r in responses if r.status_code != 201
        ]
        assert {r.json()["status"] for r in responses} == {"confirmed"}
        async with committed() as session:
            sold = await session.scalar(
                text(
                    "SELECT count(*) FROM inventory_units WHERE showtime_id = :s AND state = 'sold'"
                ),
                {"s": world.showtime.id},
            )
        assert sold == sum(quantities)


class TestExpiredHoldRace:
    async def test_a_lapsed_hold_is_claimable_at_once_by_exactly_one(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(committed, 21, rows=1, seats_per_row=4)
        seat_ids = [world.seats[0].id, world.seats[1].id]
        first = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "seat_ids": seat_ids},
            headers=auth_headers(users[0]),
        )
        assert first.status_code == 201
        async with committed() as session:
            await session.execute(
                text(
                    "UPDATE inventory_units SET held_until = now() - interval '1 second' "
                    "WHERE hold_id = :id"
                ),
                {"id": first.json()["id"]},
            )
            await session.commit()
        bodies = [{"showtime_id": str(world.showtime.id), "seat_ids": seat_ids} for _ in users[1:]]
        responses = await post_all(committing_client, users[1:], auth_headers, bodies)
        wins = await _check_no_oversell(committed, world, responses, 2)
        # Buyers who each locked one of the two seats both refuse (no one waits on locks), so
        # a race may leave the seats free; they are then claimable at once, without a sweep.
        assert len(wins) <= 1
        if not wins:
            retry = await committing_client.post(
                "/api/bookings/hold-seats",
                json=bodies[0],
                headers=auth_headers(users[1]),
            )
            assert retry.status_code == 201

    async def test_lapsed_general_admission_places_go_to_the_racers_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # Every free place is held, then half the holds lapse: a quantity claim finds no free
        # place and must take lapsed ones (the claim's second branch), each exactly once.
        world, users, _ = await committed_world(
            committed, 41, rows=0, seats_per_row=0, ga_capacity=20
        )
        assert world.floor is not None
        floor = {"showtime_id": str(world.showtime.id), "section_id": str(world.floor.id)}
        holders = users[:10]
        first = await post_all(
            committing_client, holders, auth_headers, [{**floor, "quantity": 2} for _ in holders]
        )
        assert [r.status_code for r in first] == [201] * 10
        lapsed = [r.json()["id"] for r in first[:5]]
        async with committed() as session:
            await session.execute(
                text(
                    "UPDATE inventory_units SET held_until = now() - interval '1 second' "
                    "WHERE hold_id = ANY(:ids)"
                ),
                {"ids": lapsed},
            )
            await session.commit()
        racers = users[10:]
        responses = await post_all(
            committing_client,
            racers,
            auth_headers,
            [{**floor, "quantity": random.Random(i).randint(1, 2)} for i in range(len(racers))],
        )
        wins = [r.json() for r in responses if r.status_code == 201]
        assert all(r.json()["code"] == "sold_out" for r in responses if r.status_code == 409)
        taken = [u["unit_id"] for w in wins for u in w["units"]]
        assert taken
        assert len(taken) == len(set(taken))
        assert len(taken) <= 10
        lapsed_units = {u["unit_id"] for r in first[:5] for u in r.json()["units"]}
        assert set(taken) <= lapsed_units
        expected = {u["unit_id"]: r.json()["id"] for r in first[5:] for u in r.json()["units"]}
        expected |= {u["unit_id"]: w["id"] for w in wins for u in w["units"]}
        assert await held_units(committed, world, live_only=True) == expected


async def _pending_bookings(
    client: AsyncClient, world: World, users: list[User], auth_headers: Headers
) -> list[dict[str, Any]]:
    """One pending booking of two best-available seats per user."""
    bookings = []
    for user in users:
        created = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 2},
            headers=auth_headers(user),
        )
        assert created.status_code == 201
        bookings.append(created.json())
    return bookings


async def _outcome(
    maker: async_sessionmaker[AsyncSession], booking_id: str
) -> tuple[str, set[tuple[str, str]]]:
    """A booking's status, and the (unit state, ticket status) pairs of its tickets."""
    async with maker() as session:
        status = (
            await session.execute(
                text("SELECT status FROM bookings WHERE id = :id"), {"id": booking_id}
            )
        ).scalar_one()
        units = (
            await session.execute(
                text(
                    "SELECT u.state, t.status FROM tickets t "
                    "JOIN inventory_units u ON u.id = t.unit_id WHERE t.booking_id = :id"
                ),
                {"id": booking_id},
            )
        ).all()
    return str(status), {(u, t) for u, t in units}


class TestConfirmCancelRace:
    async def test_one_outcome_wins_and_stock_matches_it(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, admin = await committed_world(committed, 10, rows=2, seats_per_row=10)
        pending = await _pending_bookings(committing_client, world, users, auth_headers)
        bookings = list(zip(users, pending, strict=True))
        results = await asyncio.gather(
            *(
                call
                for user, booking in bookings
                for call in (
                    committing_client.post(
                        f"/api/bookings/{booking['id']}/confirm",
                        json={"version": booking["version"]},
                        headers=auth_headers(admin),
                    ),
                    committing_client.post(
                        f"/api/bookings/{booking['id']}/cancel",
                        json={"version": booking["version"]},
                        headers=auth_headers(user),
                    ),
                )
            )
        )
        for index, (_user, booking) in enumerate(bookings):
            confirm, cancel = results[2 * index], results[2 * index + 1]
            codes = sorted([confirm.status_code, cancel.status_code])
            assert codes == [200, 409]
            loser = confirm if confirm.status_code == 409 else cancel
            assert loser.json()["code"] in {"booking_version_conflict", "illegal_transition"}
            status, units = await _outcome(committed, booking["id"])
            if status == "confirmed":
                assert confirm.status_code == 200
                assert units == {("sold", "issued")}
            else:
                assert status == "cancelled"
                assert units == {("available", "void")}


class TestReleaseBookRace:
    async def test_a_hold_is_either_released_or_booked_never_both(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(committed, 10, rows=2, seats_per_row=10)
        holds = []
        for i, user in enumerate(users):
            held = await committing_client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(world.showtime.id), "seat_ids": [world.seats[i].id]},
                headers=auth_headers(user),
            )
            assert held.status_code == 201
            holds.append((user, held.json()["id"]))
        results = await asyncio.gather(
            *(
                call
                for user, hold_id in holds
                for call in (
                    committing_client.post(
                        "/api/bookings/release-seats",
                        json={"hold_id": hold_id},
                        headers=auth_headers(user),
                    ),
                    committing_client.post(
                        "/api/bookings/create",
                        json={"hold_id": hold_id},
                        headers=auth_headers(user),
                    ),
                )
            )
        )
        async with committed() as session:
            for index, (_user, hold_id) in enumerate(holds):
                release, book = results[2 * index], results[2 * index + 1]
                assert sorted([release.status_code, book.status_code]) in ([200, 409], [201, 409])
                units = (
                    await session.execute(
                        text("SELECT state, booking_id FROM inventory_units WHERE hold_id = :h"),
                        {"h": hold_id},
                    )
                ).all()
                bookings = (
                    await session.execute(
                        text("SELECT count(*) FROM bookings WHERE hold_id = :h"), {"h": hold_id}
                    )
                ).scalar_one()
                if book.status_code == 201:
                    assert bookings == 1
                    assert [(u[0], str(u[1])) for u in units] == [("held", book.json()["id"])]
                else:
                    assert bookings == 0
                    assert units == []  # released: the seat is nobody's


class TestAddSeatsRace:
    async def test_seats_added_to_bookings_are_never_also_held_or_added_twice(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(committed, 15, rows=4, seats_per_row=10)
        owners, racers = users[:10], users[10:]
        bookings = []
        for i, owner in enumerate(owners):
            created = await committing_client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(world.showtime.id), "seat_ids": [world.seats[30 + i].id]},
                headers=auth_headers(owner),
            )
            booked = await committing_client.post(
                "/api/bookings/create",
                json={"hold_id": created.json()["id"]},
                headers=auth_headers(owner),
            )
            assert booked.status_code == 201
            bookings.append((owner, booked.json()["id"]))
        rng = random.Random(3)
        front = [s.id for s in world.seats[:20]]
        # The first owner asks for two seats nobody else wants, so the add path runs to the
        # end in every run; the others race for the front seats, where every add may lose
        # (SKIP LOCKED: two claims that lock each other's seat both give up).
        uncontested = [world.seats[20].id, world.seats[21].id]
        adds = [
            committing_client.post(
                f"/api/bookings/{booking_id}/seats",
                json={
                    "seat_ids": uncontested if i == 0 else rng.sample(front, 2),
                    "status": "locked",
                },
                headers=auth_headers(owner),
            )
            for i, (owner, booking_id) in enumerate(bookings)
        ]
        holds = [
            committing_client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(world.showtime.id), "seat_ids": rng.sample(front, 2)},
                headers=auth_headers(racer),
            )
            for racer in racers
        ]
        responses = await asyncio.gather(*adds, *holds)
        assert {r.status_code for r in responses} <= {200, 201, 409}
        added = {
            t["unit_id"]: r.json()["id"]
            for r in responses[: len(adds)]
            if r.status_code == 200
            for t in r.json()["tickets"]
            if t["seat_id"] in front
        }
        held = {
            u["unit_id"]: r.json()["id"]
            for r in responses[len(adds) :]
            if r.status_code == 201
            for u in r.json()["units"]
        }
        assert responses[0].status_code == 200
        assert {t["seat_id"] for t in responses[0].json()["tickets"]} >= set(uncontested)
        assert not set(added) & set(held), "a seat both added to a booking and held"
        async with committed() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT u.id, u.booking_id, u.hold_id, count(t.id) FROM inventory_units u"
                        " LEFT JOIN tickets t ON t.unit_id = u.id"
                        " WHERE u.showtime_id = :s AND u.seat_id = ANY(:seats)"
                        " AND u.state = 'held' GROUP BY u.id"
                    ),
                    {"s": world.showtime.id, "seats": front},
                )
            ).all()
        for unit_id, booking_id, hold_id, tickets in rows:
            if unit_id in added:
                assert str(booking_id) == added[unit_id]
                assert tickets == 1
            else:
                assert str(hold_id) == held[unit_id]
                assert booking_id is None
                assert tickets == 0
        assert len(rows) == len(added) + len(held)


async def _sweep(maker: async_sessionmaker[AsyncSession], batch: int = 500) -> tuple[int, int]:
    """One pass of the sweeper job in its own committed transaction, as a worker runs it."""
    async with maker() as session:
        swept = await booking_service.sweep(session, batch=batch)
        await session.commit()
    return swept


async def _sweep_one_at_a_time(maker: async_sessionmaker[AsyncSession]) -> None:
    """Sweeper passes of one hold and one booking each, until a pass finds nothing: each
    expiry is its own transaction, so they interleave with the requests racing them."""
    while await _sweep(maker, batch=1) != (0, 0):
        pass


_LAPSE = {
    "holds": """
        WITH h AS (UPDATE holds SET expires_at = now() - interval '1 second'
                    WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'active' RETURNING id)
        UPDATE inventory_units SET held_until = now() - interval '1 second'
         WHERE hold_id IN (SELECT id FROM h) AND state = 'held' AND booking_id IS NULL""",
    "bookings": """
        WITH b AS (UPDATE bookings SET expires_at = now() - interval '1 second'
                    WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'pending_payment'
                    RETURNING id)
        UPDATE inventory_units SET held_until = now() - interval '1 second'
         WHERE booking_id IN (SELECT id FROM b) AND state = 'held'""",
}


async def _lapse(maker: async_sessionmaker[AsyncSession], table: str, ids: list[str]) -> None:
    """Time passes for these holds (not yet booked) or pending bookings, and their units:
    the tests' clock, safe to run while requests act on them."""
    async with maker() as session:
        await session.execute(text(_LAPSE[table]), {"ids": ids})
        await session.commit()


async def _statuses(
    maker: async_sessionmaker[AsyncSession], table: str, ids: list[str]
) -> set[str]:
    """The distinct statuses of these holds or bookings."""
    async with maker() as session:
        statuses = await session.execute(
            text(f"SELECT DISTINCT status FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))"),  # noqa: S608
            {"ids": ids},
        )
        return set(statuses.scalars())


async def _lapsed_hold_pairs(
    client: AsyncClient,
    maker: async_sessionmaker[AsyncSession],
    world: World,
    owners: list[User],
    auth_headers: Headers,
) -> list[tuple[User, str, list[int]]]:
    """Each owner holds two adjacent seats, front first, and the holds are then put past
    their expiry: (owner, hold id, seat ids)."""
    holds = []
    for i, owner in enumerate(owners):
        pair = [world.seats[2 * i].id, world.seats[2 * i + 1].id]
        held = await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "seat_ids": pair},
            headers=auth_headers(owner),
        )
        assert held.status_code == 201
        holds.append((owner, held.json()["id"], pair))
    await _lapse(maker, "holds", [hold_id for _, hold_id, _ in holds])
    return holds


async def _claim_while_sweeping(
    client: AsyncClient,
    maker: async_sessionmaker[AsyncSession],
    auth_headers: Headers,
    *,
    pairs: int,
    seed: int,
    sweep: Callable[[], Awaitable[object]],
    sweepers: int,
) -> tuple[World, list[str], list[Response]]:
    """`pairs` holders' pairs of seats lapse; then twice as many racers each claim one pair
    while `sweepers` copies of `sweep` run: (the world, the lapsed holds' ids, the racers'
    answers)."""
    world, users, _ = await committed_world(maker, 3 * pairs, rows=2, seats_per_row=pairs)
    holders, racers = users[:pairs], users[pairs:]
    holds = await _lapsed_hold_pairs(client, maker, world, holders, auth_headers)
    rng = random.Random(seed)
    bodies = [
        {"showtime_id": str(world.showtime.id), "seat_ids": rng.choice(holds)[2]} for _ in racers
    ]
    race = asyncio.create_task(post_all(client, racers, auth_headers, bodies))
    await asyncio.gather(race, *(sweep() for _ in range(sweepers)))
    return world, [hold_id for _, hold_id, _ in holds], race.result()


class TestSweeperRace:
    async def test_sweepers_never_free_units_that_racers_claimed_from_lapsed_holds(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # Ten holds lapse; three sweepers (several worker copies) tidy them up while twenty
        # buyers claim the same seats lazily. A sweeper must free only what a lapsed hold
        # still holds, never a unit a racer has just taken.
        world, lapsed, responses = await _claim_while_sweeping(
            committing_client,
            committed,
            auth_headers,
            pairs=10,
            seed=7,
            sweep=lambda: _sweep_one_at_a_time(committed),
            sweepers=3,
        )
        wins = await _check_no_oversell(committed, world, responses, 20)
        assert wins
        # Every winner still holds what it was given; every lapsed hold is closed.
        assert await held_units(committed, world, live_only=True) == {
            u["unit_id"]: w["id"] for w in wins for u in w["units"]
        }
        await _sweep(committed)
        assert await _statuses(committed, "holds", lapsed) == {"expired"}

    async def test_a_sweep_of_many_holds_and_buyers_claiming_their_seats_never_deadlock(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        one_version_shard: None,
    ) -> None:
        # As a worker sweeps (a batch of many lapsed holds in one transaction), buyers claim
        # the same lapsed seats. A buyer's claim takes the seats, then bumps the showtime's
        # version; the sweep must never hold that version row while it waits for those
        # seats, or the two deadlock and the buyer gets a 409 it did not earn.
        for round_ in range(5):
            world, lapsed, responses = await _claim_while_sweeping(
                committing_client,
                committed,
                auth_headers,
                pairs=20,
                seed=round_,
                sweep=lambda: _sweep(committed),
                sweepers=2,
            )
            # A claim skips seats another transaction has locked, the sweep's included, so
            # a buyer may be refused while the sweep holds theirs: never with a 409 of a
            # deadlock, and the sweep itself never fails. The sweep waited for buyers
            # claiming its units, so it freed every unit no buyer won: every held unit is
            # a winner's, none is left under a lapsed hold.
            await check_winners(committed, world, responses, {"seats_unavailable"})
            assert await _statuses(committed, "holds", lapsed) == {"expired"}

    async def test_a_sweep_frees_the_seats_of_buyers_who_were_refused_while_it_ran(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        one_version_shard: None,
    ) -> None:
        # Each buyer asks for a lapsed seat and a seat of a live hold, so each is refused;
        # but until the refusal their claim has the lapsed seat locked. A sweep running
        # then must still free that seat (waiting for the buyer), not leave it under its
        # expired hold, where no later sweep looks.
        for round_ in range(5):
            world, users, _ = await committed_world(committed, 50, rows=2, seats_per_row=20)
            live_owners, lapsed_owners, racers = users[:10], users[10:20], users[20:]
            live: dict[int, str] = {}
            for i, owner in enumerate(live_owners, start=10):
                held = await committing_client.post(
                    "/api/bookings/hold-seats",
                    json={
                        "showtime_id": str(world.showtime.id),
                        "seat_ids": [world.seats[2 * i].id, world.seats[2 * i + 1].id],
                    },
                    headers=auth_headers(owner),
                )
                assert held.status_code == 201
                live |= {u["unit_id"]: held.json()["id"] for u in held.json()["units"]}
            lapsed = await _lapsed_hold_pairs(
                committing_client, committed, world, lapsed_owners, auth_headers
            )
            rng = random.Random(round_)
            bodies = [
                {
                    "showtime_id": str(world.showtime.id),
                    "seat_ids": [
                        rng.choice(world.seats[:20]).id,
                        rng.choice(world.seats[20:40]).id,
                    ],
                }
                for _ in racers
            ]
            race = asyncio.create_task(
                post_all(committing_client, racers, auth_headers, bodies, gap=0.002)
            )
            await asyncio.gather(race, _sweep(committed), _sweep(committed))
            assert {r.json()["code"] for r in race.result()} == {"seats_unavailable"}
            assert await held_units(committed, world) == live
            assert await _statuses(committed, "holds", [h for _, h, _ in lapsed]) == {"expired"}

    async def test_a_lapsed_booking_is_either_expired_or_confirmed_never_both(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # A confirm landing after the payment window races the sweeper expiring the booking.
        world, users, admin = await committed_world(committed, 10, rows=2, seats_per_row=10)
        bookings = await _pending_bookings(committing_client, world, users, auth_headers)
        await _lapse(committed, "bookings", [b["id"] for b in bookings])
        confirming = [
            asyncio.create_task(
                committing_client.post(
                    f"/api/bookings/{booking['id']}/confirm",
                    json={"version": booking["version"]},
                    headers=auth_headers(admin),
                )
            )
            for booking in bookings
        ]
        await asyncio.gather(*confirming, *(_sweep_one_at_a_time(committed) for _ in range(3)))
        confirms = [task.result() for task in confirming]
        assert {r.status_code for r in confirms} <= {200, 409}
        for booking, confirm in zip(bookings, confirms, strict=True):
            status, units = await _outcome(committed, booking["id"])
            if confirm.status_code == 200:
                assert status == "confirmed"
                assert units == {("sold", "issued")}
            else:
                # The sweeper's expiry moved the version on; or its units were gone.
                assert confirm.json()["code"] in {"booking_version_conflict", "booking_expired"}
                assert status == "expired"
                assert units == {("available", "void")}


class TestShowtimeCancelRace:
    async def test_cancelling_a_showtime_while_buyers_claim_its_lapsed_bookings_seats(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        one_version_shard: None,
    ) -> None:
        # An organizer cancels a showtime, which cancels all its bookings in one transaction,
        # while buyers claim the seats of its pending bookings whose payment window has
        # passed (lazy expiry). The cancel must never wait for a buyer's seats while holding
        # the version row that buyer waits for.
        for round_ in range(4):
            world, users, admin = await committed_world(committed, 40, rows=2, seats_per_row=10)
            owners, racers = users[:10], users[10:]
            bookings = await _pending_bookings(committing_client, world, owners, auth_headers)
            booking_ids = [b["id"] for b in bookings]
            await _lapse(committed, "bookings", booking_ids)
            rng = random.Random(round_)
            bodies = [
                {
                    "showtime_id": str(world.showtime.id),
                    "seat_ids": [t["seat_id"] for t in rng.choice(bookings)["tickets"]],
                }
                for _ in racers
            ]
            cancelling = asyncio.create_task(
                committing_client.post(
                    f"/api/showtimes/{world.showtime.id}/cancel", headers=auth_headers(admin)
                )
            )
            # Buyers arrive one every 5 ms, so some claim while the cancel is freeing.
            responses = await post_all(committing_client, racers, auth_headers, bodies, gap=0.005)
            cancel = await cancelling
            assert cancel.status_code == 200, cancel.json()
            # Refused: seats taken (by a racer, or locked by the cancel), or sales closed.
            # The cancel released the holds won before it.
            refusals = {"seats_unavailable", "sales_closed"}
            won = await check_winners(committed, world, responses, refusals, cancelled=True)
            assert await _statuses(committed, "holds", list(set(won.values()))) <= {"released"}
            assert await _statuses(committed, "bookings", booking_ids) == {"cancelled"}
            for booking_id in booking_ids:
                _, units = await _outcome(committed, booking_id)
                assert {ticket for _, ticket in units} == {"void"}
                assert {state for state, _ in units} <= {"available", "held"}

    async def test_a_purchase_under_way_when_the_showtime_is_cancelled_is_refused(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The organizer's cancel has updated the showtime and is still settling its bookings
        # when one buyer books their hold, another holds seats and a third books in one
        # call. Each waits for the cancel, then is refused: no booking escapes its settling.
        world, (holder, *buyers), _ = await committed_world(committed, 3)
        showtime = str(world.showtime.id)
        held = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "seat_ids": [world.seats[0].id]},
            headers=auth_headers(holder),
        )
        assert held.status_code == 201
        async with committed() as cancelling, cancelling.begin():
            await cancelling.execute(
                text("UPDATE showtimes SET status = 'cancelled' WHERE id = :id"),
                {"id": world.showtime.id},
            )
            purchases = [
                asyncio.create_task(committing_client.post(path, json=body, headers=headers))
                for path, body, headers in (
                    (
                        "/api/bookings/create",
                        {"hold_id": held.json()["id"]},
                        auth_headers(holder),
                    ),
                    (
                        "/api/bookings/hold-seats",
                        {"showtime_id": showtime, "seat_ids": [world.seats[1].id]},
                        auth_headers(buyers[0]),
                    ),
                    (
                        "/api/bookings",
                        {"showtime_id": showtime, "quantity": 2},
                        auth_headers(buyers[1]),
                    ),
                )
            ]
            await until_waiting_for_locks(committed, 3)
            # Waiting for the showtime, the booking of the hold has not locked the hold: the
            # cancel goes on to lock the showtime's holds (to release them) without waiting
            # for a purchase that waits for it (a deadlock, seen in the mixed race).
            await cancelling.execute(
                text("SELECT 1 FROM holds WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                {"id": held.json()["id"]},
            )
        refusals = [await purchase for purchase in purchases]
        assert [(r.status_code, r.json()["code"]) for r in refusals] == [(403, "sales_closed")] * 3
        async with committed() as session:
            assert not (await session.execute(text("SELECT id FROM bookings"))).all()
            assert (await session.execute(text("SELECT count(*) FROM holds"))).scalar() == 1


class TestExtendClaimRace:
    async def test_a_hold_extended_at_its_expiry_keeps_all_its_seats_or_none(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The owner extends while the units have just lapsed and racers claim them: the
        # extension either keeps every unit (and the racers are refused) or fails whole.
        world, users, _ = await committed_world(committed, 40, rows=4, seats_per_row=10)
        owners, racers = users[:10], users[10:]
        holds = await _lapsed_hold_pairs(committing_client, committed, world, owners, auth_headers)
        # The units have lapsed and the hold rows are about to: extend passes its check on
        # the hold and then meets the racers on the units (the moment of expiry, held still).
        ids = [h for _, h, _ in holds]
        async with committed() as session:
            await session.execute(
                text(
                    "UPDATE holds SET expires_at = now() + interval '5 seconds'"
                    " WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            )
            await session.commit()
        rng = random.Random(11)
        extends = [
            committing_client.post(
                "/api/bookings/extend-hold", json={"hold_id": hold_id}, headers=auth_headers(owner)
            )
            for owner, hold_id, _ in holds
        ]
        bodies = [
            {"showtime_id": str(world.showtime.id), "seat_ids": rng.choice(holds)[2]}
            for _ in racers
        ]
        claims = [
            committing_client.post("/api/bookings/hold-seats", json=body, headers=auth_headers(r))
            for r, body in zip(racers, bodies, strict=True)
        ]
        responses = await asyncio.gather(*extends, *claims)
        extended, claimed = responses[: len(extends)], responses[len(extends) :]
        assert {r.status_code for r in extended} <= {200, 410}
        assert {r.status_code for r in claimed} <= {201, 409}
        owners_of = await held_units(committed, world, live_only=True)
        winners = {w["id"] for w in (r.json() for r in claimed if r.status_code == 201)}
        for (_, hold_id, _), response in zip(holds, extended, strict=True):
            mine = [u for u, h in owners_of.items() if h == hold_id]
            if response.status_code == 200:
                assert len(mine) == 2, "an extended hold lost a seat"
            else:
                assert mine == []
        assert set(owners_of.values()) <= winners | {h for _, h, _ in holds}
        unit_ids = list(owners_of)
        assert len(unit_ids) == len(set(unit_ids))


Call = tuple[str, dict[str, Any], User]
"""A request of the mixed race: path, body, who sends it."""

_DEADLOCK_CODES = {"serialization_conflict", "timeout", "database_unavailable"}


class TestMixedRace:
    # The cancel comes once 100 requests are answered (of some 200): mid-sale on any
    # machine, where a clock (a second, before) let a fast one finish the sale first.
    @pytest.mark.parametrize("cancel_after", [None, 100], ids=["selling", "cancelled_mid_sale"])
    async def test_buyers_doing_everything_at_once_leave_the_stock_consistent(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        one_version_shard: None,
        cancel_after: int | None,
    ) -> None:
        # Thirty buyers at once, four rounds each: hold (seats, best available, the floor)
        # or book in one call; then release, extend, book, let lapse; confirm (an admin),
        # cancel, add a seat (or two of these at once), pay and refund, let lapse. The
        # sweeper, the waitlist's offer and settle runs, and the organizer blocking and
        # unblocking seats go on throughout, and every transaction bumps one version row.
        # No request may fail on a lock (deadlock, timeout) or with a 5xx, no job may
        # fail, and afterwards every stock invariant holds.
        world, users, admin = await committed_world(
            committed, 30, rows=4, seats_per_row=10, ga_capacity=20, hold_ttl_seconds=120
        )
        assert world.floor is not None
        showtime, floor = str(world.showtime.id), str(world.floor.id)
        answers: list[Response] = []

        async def post(path: str, body: dict[str, Any], user: User) -> Response:
            answer = await committing_client.post(path, json=body, headers=auth_headers(user))
            answers.append(answer)
            return answer

        async def after_booking(user: User, booking: dict[str, Any], rng: random.Random) -> None:
            path = f"/api/bookings/{booking['id']}"
            confirm: Call = (f"{path}/confirm", {"version": booking["version"]}, admin)
            cancel: Call = (f"{path}/cancel", {}, user)
            add_seat: Call = (f"{path}/seats", {"seat_ids": [rng.choice(world.seats).id]}, user)
            roll = rng.random()
            if roll < 0.45:
                # One of confirm, cancel, add a seat; or two of them at once.
                chosen = rng.sample([confirm, cancel, add_seat], 2 if roll < 0.15 else 1)
                await asyncio.gather(*(post(*call) for call in chosen))
            elif roll < 0.6:
                await _lapse(committed, "bookings", [booking["id"]])
            else:
                await pay(user, booking, rng)

        async def pay(user: User, booking: dict[str, Any], rng: random.Random) -> None:
            # The sandbox provider: a card that pays, or one that is declined; once paid,
            # the buyer cancels (a refund less the fee) or an admin refunds one ticket.
            started = await post("/api/payments/initiate", {"booking_id": booking["id"]}, user)
            if started.status_code != 201:
                return
            card = "4242424242424242" if rng.random() < 0.85 else "4000000000000002"
            body = {"payment_id": started.json()["payment"]["id"], "card_number": card}
            paid = await post("/api/payments/confirm", body, user)
            if paid.status_code != 200 or paid.json()["status"] != "succeeded":
                return
            path, roll = f"/api/bookings/{booking['id']}", rng.random()
            if roll < 0.4:
                await post(f"{path}/cancel", {}, user)
            elif roll < 0.7:
                await post(f"{path}/refund", {"ticket_ids": [booking["tickets"][0]["id"]]}, admin)

        async def shop(user: User, rng: random.Random) -> None:
            for _ in range(4):
                roll = rng.random()
                if roll < 0.15:
                    booked = await post(
                        "/api/bookings", {"showtime_id": showtime, "quantity": 2}, user
                    )
                    if booked.status_code == 201:
                        await after_booking(user, booked.json(), rng)
                    continue
                body: dict[str, Any] = {"showtime_id": showtime}
                if roll < 0.55:
                    body["seat_ids"] = [s.id for s in rng.sample(world.seats, rng.randint(1, 3))]
                elif roll < 0.8:
                    body["quantity"] = rng.randint(1, 3)
                else:
                    body |= {"section_id": floor, "quantity": rng.randint(1, 4)}
                held = await post("/api/bookings/hold-seats", body, user)
                if held.status_code != 201:
                    continue
                hold = {"hold_id": held.json()["id"]}
                roll = rng.random()
                if roll < 0.2:
                    await post("/api/bookings/release-seats", hold, user)
                elif roll < 0.3:
                    await post("/api/bookings/extend-hold", hold, user)
                elif roll < 0.45:
                    await _lapse(committed, "holds", [hold["hold_id"]])
                else:
                    created = await post("/api/bookings/create", hold, user)
                    if created.status_code == 201:
                        await after_booking(user, created.json(), rng)

        async def waitlist_runs() -> None:
            # Sold-out one-call bookings join the waitlist: offer it what comes back, and
            # settle its offers, each in its own transaction as the worker's jobs do.
            async with committed() as session, session.begin():
                await waitlist.offer_released_units(session, WaitlistSettings(), world.showtime.id)
            async with committed() as session, session.begin():
                await waitlist.settle_offers(session, WaitlistSettings())

        organizer_rng = random.Random(99)

        async def house_seats() -> None:
            # The organizer takes a seat or two off sale, or puts back what is off sale.
            seats = f"/api/showtimes/{showtime}/seats"
            if organizer_rng.random() < 0.6:
                picked = organizer_rng.sample(world.seats, organizer_rng.randint(1, 2))
                await post(f"{seats}/block", {"seat_ids": [s.id for s in picked]}, world.organizer)
            else:
                everything = {"seat_ids": [s.id for s in world.seats]}
                await post(f"{seats}/unblock", everything, world.organizer)

        buying = asyncio.gather(*(shop(u, random.Random(i)) for i, u in enumerate(users)))
        cancelling = None
        sweeps = 0
        while not buying.done():
            due = cancel_after is not None and len(answers) >= cancel_after
            if due and cancelling is None:
                cancel = post(f"/api/showtimes/{showtime}/cancel", {}, admin)
                cancelling = asyncio.create_task(cancel)
            await asyncio.gather(_sweep(committed, batch=5), waitlist_runs(), house_seats())
            sweeps += 1
            await asyncio.sleep(0.005)
        await buying
        await _sweep(committed)
        if cancel_after is not None:
            assert cancelling is not None, "the sale ended before the cancel"
            assert (await cancelling).status_code == 200
            # Nothing is sold, left to pay for, held or waited for on a cancelled showtime.
            async with committed() as session:
                live = await session.execute(
                    text(
                        "SELECT id, status, created_at, confirmed_at FROM bookings"
                        " WHERE status IN ('pending_payment', 'confirmed')"
                    )
                )
                assert not live.all()
                held = await session.execute(
                    text("SELECT id, created_at FROM holds WHERE status = 'active'")
                )
                assert not held.all()
                waiting = await session.execute(
                    text(
                        "SELECT id, status FROM waitlist_entries"
                        " WHERE status IN ('waiting', 'offered')"
                    )
                )
                assert not waiting.all()
        failed = [
            (a.request.url.path, a.status_code, a.json().get("code"))
            for a in answers
            if a.status_code >= 500 or a.json().get("code") in _DEADLOCK_CODES
        ]
        assert not failed, failed
        # The mix did what it says: sales, refusals and sweeps all happened.
        codes = {a.status_code for a in answers}
        assert {200, 201, 409} <= codes, codes
        assert sweeps > 1
        async with committed() as session:
            await check_stock(session)


class TestReleaseAgainstBatchLock:
    async def test_a_release_waits_for_a_sweep_that_kept_its_units_locked(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # A sweep's batch lock sees four seats under a lapsed booking and waits on the first.
        # Meanwhile a buyer claims the second and the fourth. The lock then takes the second
        # (changed since its snapshot, it no longer matches and is skipped, but stays
        # locked) and waits on the third. The buyer releases their hold: the release must
        # wait for the sweep, not hold the fourth while it waits for the second (a deadlock).
        world, (owner, buyer), _ = await committed_world(committed, 2, rows=1, seats_per_row=4)
        showtime = str(world.showtime.id)
        booked = await committing_client.post(
            "/api/bookings",
            json={"showtime_id": showtime, "quantity": 4},
            headers=auth_headers(owner),
        )
        assert booked.status_code == 201
        await _lapse(committed, "bookings", [booked.json()["id"]])
        tickets = sorted(booked.json()["tickets"], key=lambda t: t["unit_id"])
        units = [t["unit_id"] for t in tickets]
        lock = text("SELECT pg_backend_pid() FROM inventory_units WHERE id = :id FOR UPDATE")
        async with committed() as first, committed() as third:
            await first.execute(lock, {"id": units[0]})
            third_pid = (await third.execute(lock, {"id": units[2]})).scalar_one()
            sweeping = asyncio.create_task(_sweep(committed))
            await until_waiting_for_locks(committed, 1)
            held = await committing_client.post(
                "/api/bookings/hold-seats",
                json={
                    "showtime_id": showtime,
                    "seat_ids": [tickets[1]["seat_id"], tickets[3]["seat_id"]],
                },
                headers=auth_headers(buyer),
            )
            assert held.status_code == 201
            await first.commit()
            await until_waiting_for_locks(committed, 1, blocked_by=third_pid)
            # The premise: the sweep holds the second seat's lock, though it skipped it.
            async with committed() as probe:
                with pytest.raises(DBAPIError, match="could not obtain lock"):
                    await probe.execute(
                        text("SELECT 1 FROM inventory_units WHERE id = :id FOR UPDATE NOWAIT"),
                        {"id": units[1]},
                    )
            releasing = asyncio.create_task(
                committing_client.post(
                    "/api/bookings/release-seats",
                    json={"hold_id": held.json()["id"]},
                    headers=auth_headers(buyer),
                )
            )
            await until_waiting_for_locks(committed, 2)
            await third.commit()
        released = await releasing
        assert released.status_code == 200, released.json()
        assert await sweeping == (0, 1)
        assert await held_units(committed, world) == {}
