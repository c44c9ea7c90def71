from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.config import Settings
from tests.booking.factories import World, create_world
from tests.factories import configure, create_user

Headers = Callable[[User], dict[str, str]]


async def _hold(client: AsyncClient, headers: dict[str, str], **body: object) -> dict:  # type: ignore[type-arg]
    response = await client.post("/api/bookings/hold-seats", json=body, headers=headers)
    return {**response.json(), "http": response.status_code}


class TestExplicitSeats:
    async def test_holds_exactly_the_seats_asked_for(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        seat_ids = [world.seats[0].id, world.seats[1].id]
        hold = await _hold(
            client, auth_headers(buyer), showtime_id=str(world.showtime.id), seat_ids=seat_ids
        )
        assert hold["http"] == 201
        assert sorted(u["seat_id"] for u in hold["units"]) == sorted(seat_ids)
        assert hold["units"][0]["label"].startswith("Stalls A-")

    async def test_a_taken_seat_refuses_the_whole_hold_and_names_it(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        first, second = await create_user(session), await create_user(session)
        showtime = str(world.showtime.id)
        taken = world.seats[1].id
        await _hold(client, auth_headers(first), showtime_id=showtime, seat_ids=[taken])
        refused = await _hold(
            client,
            auth_headers(second),
            showtime_id=showtime,
            seat_ids=[world.seats[0].id, taken, world.seats[2].id],
        )
        assert refused["http"] == 409
        assert refused["code"] == "seats_unavailable"
        assert [s["seat_id"] for s in refused["unavailable_seats"]] == [taken]
        retry = await _hold(
            client, auth_headers(second), showtime_id=showtime, seat_ids=[world.seats[0].id]
        )
        assert retry["http"] == 201

    async def test_a_seat_of_another_showtime_refuses_the_hold_and_is_named_missing(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        other = await create_world(session)
        buyer = await create_user(session)
        showtime = str(world.showtime.id)
        taken, free, foreign = world.seats[0].id, world.seats[1].id, other.seats[0].id
        await _hold(
            client, auth_headers(await create_user(session)), showtime_id=showtime, seat_ids=[taken]
        )
        refused = await _hold(
            client, auth_headers(buyer), showtime_id=showtime, seat_ids=[free, taken, foreign]
        )
        assert refused["http"] == 409
        assert refused["code"] == "seats_unavailable"
        named = {s["seat_id"]: s.get("missing", False) for s in refused["unavailable_seats"]}
        assert named == {taken: False, foreign: True}
        # Nothing was claimed: the free seat is still free.
        retry = await _hold(client, auth_headers(buyer), showtime_id=showtime, seat_ids=[free])
        assert retry["http"] == 201

    async def test_an_expired_hold_is_claimable_at_once(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        first, second = await create_user(session), await create_user(session)
        seat = world.seats[0].id
        held = await _hold(
            client, auth_headers(first), showtime_id=str(world.showtime.id), seat_ids=[seat]
        )
        await session.execute(
            text(
                "UPDATE inventory_units SET held_until = now() - interval '1 second' "
                "WHERE hold_id = :id"
            ),
            {"id": held["id"]},
        )
        again = await _hold(
            client, auth_headers(second), showtime_id=str(world.showtime.id), seat_ids=[seat]
        )
        assert again["http"] == 201


class TestGeneralAdmission:
    async def test_holds_a_quantity_of_places(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=0, seats_per_row=0, ga_capacity=5)
        assert world.floor is not None
        buyer = await create_user(session)
        hold = await _hold(
            client,
            auth_headers(buyer),
            showtime_id=str(world.showtime.id),
            section_id=str(world.floor.id),
            quantity=4,
        )
        assert hold["http"] == 201
        assert len(hold["units"]) == 4
        assert {u["label"] for u in hold["units"]} == {"Floor"}

    async def test_more_than_is_left_is_sold_out(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=0, seats_per_row=0, ga_capacity=3)
        assert world.floor is not None
        buyer = await create_user(session)
        refused = await _hold(
            client,
            auth_headers(buyer),
            showtime_id=str(world.showtime.id),
            section_id=str(world.floor.id),
            quantity=4,
        )
        assert refused["http"] == 409
        assert refused["code"] == "sold_out"


class TestBestAvailable:
    async def test_adjacent_seats_nearest_the_stage_in_the_middle(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=3, seats_per_row=8)
        buyer = await create_user(session)
        hold = await _hold(
            client, auth_headers(buyer), showtime_id=str(world.showtime.id), quantity=2
        )
        assert hold["http"] == 201
        labels = sorted(u["label"] for u in hold["units"])
        assert labels == ["Stalls A-4", "Stalls A-5"]

    async def test_leaves_no_single_seat_gap_when_avoidable(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=2, seats_per_row=5)
        first, second = await create_user(session), await create_user(session)
        showtime = str(world.showtime.id)
        # Row A: seat 1 taken, 2..5 free: 3 seats must take 3..5 or 2..4 without a lone seat.
        await _hold(client, auth_headers(first), showtime_id=showtime, seat_ids=[world.seats[0].id])
        hold = await _hold(client, auth_headers(second), showtime_id=showtime, quantity=3)
        numbers = sorted(int(u["label"].split("-")[1]) for u in hold["units"])
        assert hold["units"][0]["label"].startswith("Stalls A-")
        assert numbers in ([2, 3, 4], [3, 4, 5])
        assert numbers != [3, 4, 5]

    async def test_split_only_when_allowed(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=4)
        first, second = await create_user(session), await create_user(session)
        showtime = str(world.showtime.id)
        await _hold(
            client,
            auth_headers(first),
            showtime_id=showtime,
            seat_ids=[world.seats[1].id, world.seats[2].id],
        )
        refused = await _hold(client, auth_headers(second), showtime_id=showtime, quantity=2)
        assert refused["code"] == "sold_out"
        split = await _hold(
            client, auth_headers(second), showtime_id=showtime, quantity=2, allow_split=True
        )
        assert split["http"] == 201
        assert sorted(u["label"] for u in split["units"]) == ["Stalls A-1", "Stalls A-4"]


class TestAccessibleSeats:
    async def test_kept_from_best_available_unless_asked_for(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=2, seats_per_row=4)
        front = world.seats[:4]  # row A, nearest the stage: wheelchair places
        for seat in front:
            seat.accessible = True
        await session.flush()
        showtime = str(world.showtime.id)
        buyer, needs, chooser = [await create_user(session) for _ in range(3)]

        regular = await _hold(client, auth_headers(buyer), showtime_id=showtime, quantity=2)
        asked = await _hold(
            client, auth_headers(needs), showtime_id=showtime, quantity=2, accessible=True
        )
        free = [s.id for s in front if s.id not in {u["seat_id"] for u in asked["units"]}]
        chosen = await _hold(client, auth_headers(chooser), showtime_id=showtime, seat_ids=free[:1])

        assert regular["http"] == 201
        assert {u["label"].split("-")[0] for u in regular["units"]} == {"Stalls B"}
        assert asked["http"] == 201
        # Adjacent, leaving no single seat alone at either end.
        assert sorted(u["label"] for u in asked["units"]) in (
            ["Stalls A-1", "Stalls A-2"],
            ["Stalls A-3", "Stalls A-4"],
        )
        assert chosen["http"] == 201

    async def test_sold_out_of_either_kind_is_a_409(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=4)
        world.seats[0].accessible = True
        await session.flush()
        showtime = str(world.showtime.id)
        buyer, needs = await create_user(session), await create_user(session)

        regular = await _hold(client, auth_headers(buyer), showtime_id=showtime, quantity=4)
        asked = await _hold(
            client, auth_headers(needs), showtime_id=showtime, quantity=2, accessible=True
        )
        one = await _hold(
            client, auth_headers(needs), showtime_id=showtime, quantity=1, accessible=True
        )

        assert (regular["http"], regular["code"]) == (409, "sold_out")
        assert regular["waitlist"]["join_url"] == "/api/waitlists"
        assert regular["waitlist"]["accessible"] is False
        assert (asked["http"], asked["code"]) == (409, "sold_out")
        assert "accessible" in asked["detail"]
        # The waitlist is suggested for accessible seats too (its offers are of those alone).
        assert asked["waitlist"]["accessible"] is True
        assert one["http"] == 201
        assert [u["label"] for u in one["units"]] == ["Stalls A-1"]

    async def test_released_to_everyone_the_events_hours_before_the_showtime(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=4)
        for seat in world.seats[:2]:
            seat.accessible = True
        await session.flush()
        showtime = str(world.showtime.id)
        buyer = await create_user(session)
        organizer = auth_headers(world.organizer)

        kept = await client.put(
            f"/api/events/{world.event.id}", headers=organizer, json={"accessible_release_hours": 0}
        )
        before = await _hold(client, auth_headers(buyer), showtime_id=showtime, quantity=4)
        # The showtime is days away: a release a year before it has happened.
        released = await client.put(
            f"/api/events/{world.event.id}",
            headers=organizer,
            json={"accessible_release_hours": 8760},
        )
        after = await _hold(client, auth_headers(buyer), showtime_id=showtime, quantity=4)
        cleared = await client.put(
            f"/api/events/{world.event.id}",
            headers=organizer,
            json={"accessible_release_hours": None},
        )
        refused = await client.put(
            f"/api/events/{world.event.id}",
            headers=organizer,
            json={"accessible_release_hours": -1},
        )

        assert kept.json()["accessible_release_hours"] == 0
        assert (before["http"], before["code"]) == (409, "sold_out")
        assert released.json()["accessible_release_hours"] == 8760
        assert after["http"] == 201
        assert sorted(u["seat_id"] for u in after["units"]) == sorted(s.id for s in world.seats)
        assert cleared.json()["accessible_release_hours"] is None
        assert refused.status_code == 422

    async def test_only_with_a_quantity_and_not_in_general_admission(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=4, ga_capacity=10)
        assert world.floor is not None
        buyer = await create_user(session)
        showtime = str(world.showtime.id)

        with_seats = await _hold(
            client,
            auth_headers(buyer),
            showtime_id=showtime,
            seat_ids=[world.seats[0].id],
            accessible=True,
        )
        on_the_floor = await _hold(
            client,
            auth_headers(buyer),
            showtime_id=showtime,
            section_id=str(world.floor.id),
            quantity=2,
            accessible=True,
        )

        assert (with_seats["http"], with_seats["code"]) == (422, "validation_error")
        assert (on_the_floor["http"], on_the_floor["code"]) == (409, "sold_out")

    async def test_one_call_booking_asks_for_them(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=2, seats_per_row=4)
        world.seats[6].accessible = True
        world.seats[7].accessible = True
        await session.flush()
        buyer = await create_user(session)

        booked = await client.post(
            "/api/bookings",
            headers=auth_headers(buyer),
            json={"showtime_id": str(world.showtime.id), "quantity": 2, "accessible": True},
        )

        assert booked.status_code == 201, booked.json()
        assert sorted(t["label"] for t in booked.json()["tickets"]) == [
            "Stalls B-3",
            "Stalls B-4",
        ]
        waiting = auth_headers(await create_user(session))
        none_left = await client.post(
            "/api/bookings",
            headers=waiting,
            json={"showtime_id": str(world.showtime.id), "quantity": 1, "accessible": True},
        )
        assert (none_left.status_code, none_left.json()["code"]) == (409, "sold_out")
        # Refused, the buyer waits for an accessible seat (not for any seat).
        entry = await client.get(
            f"/api/waitlists/{none_left.json()['waitlist_entry_id']}", headers=waiting
        )
        assert (entry.json()["accessible"], entry.json()["quantity"]) == (True, 1)


class TestRules:
    async def test_one_live_hold_per_buyer_per_showtime(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        showtime = str(world.showtime.id)
        await _hold(client, auth_headers(buyer), showtime_id=showtime, quantity=1)
        second = await _hold(client, auth_headers(buyer), showtime_id=showtime, quantity=1)
        assert second["http"] == 409
        assert second["code"] == "hold_limit_reached"

    async def test_ticket_cap_per_booking(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, max_tickets_per_booking=2)
        buyer = await create_user(session)
        refused = await _hold(
            client, auth_headers(buyer), showtime_id=str(world.showtime.id), quantity=3
        )
        assert refused["http"] == 422
        assert refused["code"] == "ticket_cap_exceeded"

    async def test_sales_closed_before_the_sale_starts(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        world.event.sale_starts_at = world.showtime.starts_at - timedelta(days=1)
        await session.flush()
        buyer = await create_user(session)
        refused = await _hold(
            client, auth_headers(buyer), showtime_id=str(world.showtime.id), quantity=1
        )
        assert refused["http"] == 403
        assert refused["code"] == "sales_closed"

    async def test_body_must_say_what_to_hold(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        refused = await _hold(client, auth_headers(buyer), showtime_id=str(world.showtime.id))
        assert refused["http"] == 422
        assert refused["code"] == "validation_error"


async def _world_with_hold(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers
) -> tuple[World, User, dict]:  # type: ignore[type-arg]
    world = await create_world(session)
    buyer = await create_user(session)
    hold = await _hold(
        client,
        auth_headers(buyer),
        showtime_id=str(world.showtime.id),
        seat_ids=[world.seats[0].id],
    )
    return world, buyer, hold


class TestReleaseExtendStatus:
    async def test_release_gives_the_seats_back(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, hold = await _world_with_hold(client, session, auth_headers)
        released = await client.post(
            "/api/bookings/release-seats", json={"hold_id": hold["id"]}, headers=auth_headers(buyer)
        )
        assert released.json()["status"] == "released"
        other = await create_user(session)
        again = await _hold(
            client,
            auth_headers(other),
            showtime_id=str(world.showtime.id),
            seat_ids=[world.seats[0].id],
        )
        assert again["http"] == 201

    async def test_someone_elses_hold_is_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, _buyer, hold = await _world_with_hold(client, session, auth_headers)
        stranger = await create_user(session)
        response = await client.post(
            "/api/bookings/release-seats",
            json={"hold_id": hold["id"]},
            headers=auth_headers(stranger),
        )
        assert response.status_code == 404
        assert response.json()["code"] == "hold_not_found"

    async def test_extend_pushes_expiry_up_to_the_cap(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, hold_ttl_seconds=60)
        buyer = await create_user(session)
        hold = await _hold(
            client, auth_headers(buyer), showtime_id=str(world.showtime.id), quantity=1
        )
        extended = await client.post(
            "/api/bookings/extend-hold", json={"hold_id": hold["id"]}, headers=auth_headers(buyer)
        )
        assert extended.status_code == 200
        assert extended.json()["expires_at"] > hold["expires_at"]
        assert extended.json()["expires_at"] <= hold["max_expires_at"]

    async def test_extending_an_expired_hold_is_gone(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, buyer, hold = await _world_with_hold(client, session, auth_headers)
        await session.execute(
            text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": hold["id"]},
        )
        response = await client.post(
            "/api/bookings/extend-hold", json={"hold_id": hold["id"]}, headers=auth_headers(buyer)
        )
        assert response.status_code == 410
        assert response.json()["code"] == "hold_expired"

    async def test_hold_status_lists_live_holds(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, hold = await _world_with_hold(client, session, auth_headers)
        response = await client.get(
            "/api/bookings/hold-status",
            params={"showtime_id": str(world.showtime.id)},
            headers=auth_headers(buyer),
        )
        assert [h["id"] for h in response.json()] == [hold["id"]]
        assert response.json()[0]["units"][0]["seat_id"] == world.seats[0].id


class TestAllowance:
    async def test_an_account_holding_past_its_minute_gets_429_others_do_not(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        configure(app, settings, "booking", hold_attempts_per_minute=3)
        world = await create_world(session, ga_capacity=50)
        assert world.floor is not None
        bot, person = await create_user(session), await create_user(session)
        body = {"showtime_id": str(world.showtime.id), "section_id": str(world.floor.id)}

        async def hold(user: User) -> int:
            answer = await client.post(
                "/api/bookings/hold-seats", json={**body, "quantity": 1}, headers=auth_headers(user)
            )
            if answer.status_code == 201:
                await client.post(
                    "/api/bookings/release-seats",
                    json={"hold_id": answer.json()["id"]},
                    headers=auth_headers(user),
                )
            return answer.status_code

        tries = [await hold(bot) for _ in range(3)]
        over = await client.post(
            "/api/bookings/hold-seats", json={**body, "quantity": 1}, headers=auth_headers(bot)
        )
        one_call = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(bot),
        )

        assert tries == [201, 201, 201]
        assert (over.status_code, over.json()["code"]) == (429, "rate_limited")
        assert over.headers["retry-after"] == str(over.json()["retry_after"])
        assert 0 < over.json()["retry_after"] <= 60
        assert one_call.status_code == 429  # the one-call booking holds too
        assert await hold(person) == 201
        live = await session.execute(
            text("SELECT count(*) FROM holds WHERE user_id = :u AND status = 'active'"),
            {"u": bot.id},
        )
        assert live.scalar() == 0  # refused before anything was held
