"""Organizers take seats off sale (house seats, broken seats) and put them back."""

import asyncio
import random
from collections.abc import Callable
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from tests.booking.factories import World, committed_world, create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _post(
    client: AsyncClient, path: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    response = await client.post(path, json=body, headers=headers)
    return response.status_code, response.json()


async def _assert_taken_exactly(
    maker: async_sessionmaker[AsyncSession],
    world: World,
    blocked_units: list[int],
    held_units: list[int],
) -> None:
    """In the database, the showtime's only units off sale are these, in these states."""
    async with maker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT id, state FROM inventory_units"
                    " WHERE showtime_id = :s AND state <> 'available'"
                ),
                {"s": world.showtime.id},
            )
        ).all()
    assert {int(r[0]): r[1] for r in rows} == {
        **dict.fromkeys(blocked_units, "blocked"),
        **dict.fromkeys(held_units, "held"),
    }


def _block(world: World) -> str:
    return f"/api/showtimes/{world.showtime.id}/seats/block"


def _unblock(world: World) -> str:
    return f"/api/showtimes/{world.showtime.id}/seats/unblock"


async def _seat_states(client: AsyncClient, world: World) -> dict[int, str]:
    response = await client.get(f"/api/showtimes/{world.showtime.id}/seats")
    return {
        seat["seat_id"]: seat["status"]
        for section in response.json()["sections"]
        for seat in section["seats"]
    }


class TestBlocking:
    async def test_blocked_seats_leave_sale_until_unblocked(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        house = [world.seats[0].id, world.seats[1].id]
        status, body = await _post(
            client, _block(world), auth_headers(world.organizer), {"seat_ids": house}
        )
        assert status == 200
        assert body["state"] == "blocked"
        assert len(body["unit_ids"]) == 2
        states = await _seat_states(client, world)
        assert [states[s] for s in house] == ["blocked", "blocked"]

        hold = {"showtime_id": str(world.showtime.id), "seat_ids": [house[0]]}
        status, refused = await _post(client, "/api/bookings/hold-seats", auth_headers(buyer), hold)
        assert status == 409
        assert refused["code"] == "seats_unavailable"

        status, body = await _post(
            client,
            _unblock(world),
            auth_headers(world.organizer),
            {"seat_ids": [*house, world.seats[5].id]},
        )
        assert status == 200
        assert len(body["unit_ids"]) == 2
        assert body["unchanged"] == [world.seats[5].id]
        released = await session.scalar(
            text(
                "SELECT count(*) FROM outbox_events WHERE topic = 'inventory.units_released'"
                " AND payload->>'reason' = 'unblocked'"
            )
        )
        assert released == 1
        status, _ = await _post(client, "/api/bookings/hold-seats", auth_headers(buyer), hold)
        assert status == 201

    async def test_a_held_seat_cannot_be_blocked_and_nothing_is(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        held = world.seats[2].id
        status, _ = await _post(
            client,
            "/api/bookings/hold-seats",
            auth_headers(buyer),
            {"showtime_id": str(world.showtime.id), "seat_ids": [held]},
        )
        assert status == 201
        status, body = await _post(
            client,
            _block(world),
            auth_headers(world.organizer),
            {"seat_ids": [world.seats[3].id, held]},
        )
        assert status == 409
        assert [s["seat_id"] for s in body["unavailable_seats"]] == [held]
        states = await _seat_states(client, world)
        assert states[world.seats[3].id] == "available"

    async def test_general_admission_places_are_blocked_by_quantity(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=0, seats_per_row=0, ga_capacity=10)
        assert world.floor is not None
        floor = {"section_id": str(world.floor.id)}
        status, body = await _post(
            client, _block(world), auth_headers(world.organizer), {**floor, "quantity": 8}
        )
        assert status == 200
        assert len(body["unit_ids"]) == 8
        buyer = await create_user(session)
        hold = {"showtime_id": str(world.showtime.id), **floor, "quantity": 3}
        status, refused = await _post(client, "/api/bookings/hold-seats", auth_headers(buyer), hold)
        assert status == 409
        assert refused["code"] == "sold_out"
        status, refused = await _post(
            client, _block(world), auth_headers(world.organizer), {**floor, "quantity": 3}
        )
        assert status == 409
        assert refused["code"] == "sold_out"
        status, refused = await _post(
            client, _unblock(world), auth_headers(world.organizer), {**floor, "quantity": 3}
        )
        assert status == 422
        assert refused["code"] == "unblock_needs_units"


class TestWhoMayBlock:
    async def test_buyers_and_other_organizers_are_refused_admins_are_not(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        body = {"seat_ids": [world.seats[0].id]}
        buyer = await create_user(session)
        stranger = await create_user(session, role=Role.organizer)
        admin = await create_user(session, role=Role.admin)
        assert (await _post(client, _block(world), auth_headers(buyer), body))[0] == 403
        assert (await _post(client, _block(world), auth_headers(stranger), body))[0] == 403
        assert (await _post(client, _block(world), auth_headers(admin), body))[0] == 200
        missing = "/api/showtimes/00000000-0000-0000-0000-000000000000/seats/block"
        assert (await _post(client, missing, auth_headers(admin), body))[0] == 404

    async def test_a_selection_must_name_one_kind_of_units(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        status, body = await _post(
            client,
            _block(world),
            auth_headers(world.organizer),
            {"seat_ids": [world.seats[0].id], "unit_ids": [1]},
        )
        assert status == 422
        assert body["code"] == "validation_error"


class TestBlockRace:
    async def test_a_seat_is_never_both_blocked_and_held(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyers, _ = await committed_world(committed, 60, rows=4, seats_per_row=10)
        rng = random.Random(5)
        front = [s.id for s in world.seats[:20]]
        holds = [
            committing_client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(world.showtime.id), "seat_ids": rng.sample(front, 2)},
                headers=auth_headers(buyer),
            )
            for buyer in buyers
        ]
        blocks = [
            committing_client.post(
                _block(world),
                json={"seat_ids": front[i : i + 4]},
                headers=auth_headers(world.organizer),
            )
            for i in range(0, 20, 4)
        ]
        responses = await asyncio.gather(*holds, *blocks)
        assert {r.status_code for r in responses} <= {200, 201, 409}
        blocked_ok = [r.json() for r in responses[len(holds) :] if r.status_code == 200]
        held_ok = [r.json() for r in responses[: len(holds)] if r.status_code == 201]
        blocked_units = [u for b in blocked_ok for u in b["unit_ids"]]
        held_units = [u["unit_id"] for h in held_ok for u in h["units"]]
        assert len(set(blocked_units)) == len(blocked_units)
        assert not set(blocked_units) & set(held_units)
        await _assert_taken_exactly(committed, world, blocked_units, held_units)

    async def test_general_admission_blocks_and_holds_never_share_a_place(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyers, _ = await committed_world(
            committed, 30, rows=0, seats_per_row=0, ga_capacity=40
        )
        assert world.floor is not None
        floor = {"section_id": str(world.floor.id)}
        rng = random.Random(9)
        holds = [
            committing_client.post(
                "/api/bookings/hold-seats",
                json={
                    "showtime_id": str(world.showtime.id),
                    **floor,
                    "quantity": rng.randint(1, 2),
                },
                headers=auth_headers(buyer),
            )
            for buyer in buyers
        ]
        # Five blocks of 3 sent among the holds (one before every sixth hold): about 60
        # places asked for, 40 on the floor.
        requests: list[Any] = []
        kinds: list[str] = []
        for index, hold in enumerate(holds):
            if index % 6 == 0:
                requests.append(
                    committing_client.post(
                        _block(world),
                        json={**floor, "quantity": 3},
                        headers=auth_headers(world.organizer),
                    )
                )
                kinds.append("block")
            requests.append(hold)
            kinds.append("hold")
        responses = await asyncio.gather(*requests)
        assert {r.status_code for r in responses} <= {200, 201, 409}
        held_units = [
            u["unit_id"]
            for kind, r in zip(kinds, responses, strict=True)
            if kind == "hold" and r.status_code == 201
            for u in r.json()["units"]
        ]
        blocked_units = [
            u
            for kind, r in zip(kinds, responses, strict=True)
            if kind == "block" and r.status_code == 200
            for u in r.json()["unit_ids"]
        ]
        assert held_units
        assert blocked_units
        taken = held_units + blocked_units
        assert len(taken) == len(set(taken))
        assert len(taken) <= 40
        await _assert_taken_exactly(committed, world, blocked_units, held_units)

    async def test_seats_put_back_on_sale_while_buyers_race_for_them_are_held_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The front seats are house seats; the organizer releases them in fives while sixty
        # buyers already ask for them, and re-blocks two of them as well.
        world, buyers, _ = await committed_world(committed, 60, rows=4, seats_per_row=10)
        front = [s.id for s in world.seats[:20]]
        organizer = auth_headers(world.organizer)
        status, blocked = await _post(
            committing_client, _block(world), organizer, {"seat_ids": front}
        )
        assert status == 200
        rng = random.Random(13)
        # Each release of five is sent ahead of fifteen holds: holds race the releases, and
        # the re-block of two seats the first release put back, for the same seats.

        async def _after(first: Any, path: str, body: dict[str, Any]) -> Any:
            await first
            return await committing_client.post(path, json=body, headers=organizer)

        async def _hold(buyer: User, seat_ids: list[int], after: Any = None) -> Any:
            if after is not None:
                await after
            return await committing_client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(world.showtime.id), "seat_ids": seat_ids},
                headers=auth_headers(buyer),
            )

        requests: list[Any] = []
        kinds: list[str] = []
        for chunk, buyer_group in enumerate(range(0, 60, 15)):
            release = asyncio.ensure_future(
                committing_client.post(
                    _unblock(world),
                    json={"seat_ids": front[chunk * 5 : chunk * 5 + 5]},
                    headers=organizer,
                )
            )
            requests.append(release)
            kinds.append("unblock")
            if chunk == 0:
                requests.append(_after(release, _block(world), {"seat_ids": front[:2]}))
                kinds.append("reblock")
            for n, buyer in enumerate(buyers[buyer_group : buyer_group + 15]):
                if n < 12:
                    requests.append(_hold(buyer, rng.sample(front, 2)))
                else:
                    # The last three wait for this release and ask for two of its seats, so
                    # the holds never all lose to the house seats (on a loaded machine every
                    # hold sent with the releases could be answered before any of them).
                    chunk_seats = front[chunk * 5 : chunk * 5 + 5]
                    requests.append(_hold(buyer, rng.sample(chunk_seats, 2), after=release))
                kinds.append("hold")
        # And, among the last holds, a second "put everything back" for all twenty.
        requests.insert(
            -5, committing_client.post(_unblock(world), json={"seat_ids": front}, headers=organizer)
        )
        kinds.insert(-5, "again")
        responses = await asyncio.gather(*requests)
        assert {r.status_code for r in responses} <= {200, 201, 409}
        by_kind: dict[str, list[Any]] = {"hold": [], "unblock": [], "reblock": [], "again": []}
        for kind, response in zip(kinds, responses, strict=True):
            by_kind[kind].append(response)
        held_units = [
            u["unit_id"] for r in by_kind["hold"] if r.status_code == 201 for u in r.json()["units"]
        ]
        unblocked = {u for r in by_kind["unblock"] for u in r.json()["unit_ids"]}
        assert [r.status_code for r in by_kind["unblock"]] == [200] * 4
        assert unblocked == set(blocked["unit_ids"]), "every house seat came back on sale"
        assert held_units, "buyers got some of the seats put back on sale"
        assert len(held_units) == len(set(held_units))
        (reblock,) = by_kind["reblock"]
        reblocked = reblock.json()["unit_ids"] if reblock.status_code == 200 else []
        assert not set(reblocked) & set(held_units)
        # The second release frees only what is blocked when it runs (the re-blocked seats,
        # if they were by then), never a held one.
        (again,) = by_kind["again"]
        assert again.status_code == 200
        assert set(again.json()["unit_ids"]) <= set(reblocked)
        still_blocked = sorted(set(reblocked) - set(again.json()["unit_ids"]))
        await _assert_taken_exactly(committed, world, still_blocked, held_units)
