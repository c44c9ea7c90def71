from collections.abc import Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.config import BookingSettings, Settings
from tests.booking.factories import create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


@pytest.fixture
def no_freshness_window(app: FastAPI, settings: Settings) -> None:
    """Every map read checks the version, so a change shows at once."""
    app.state.settings = settings.model_copy(
        update={"booking": BookingSettings(seat_map_refresh_ms=0)}
    )


class TestSeatMap:
    async def test_shows_each_seat_state_but_never_the_holder(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=2, seats_per_row=3, ga_capacity=10)
        buyer = await create_user(session)
        await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "seat_ids": [world.seats[0].id]},
            headers=auth_headers(buyer),
        )
        response = await client.get(f"/api/event-schedules/{world.showtime.id}/seats")
        assert response.status_code == 200
        sections = {s["kind"]: s for s in response.json()["sections"]}
        stalls = sections["reserved"]
        assert (stalls["available"], stalls["held"], stalls["sold"]) == (5, 1, 0)
        held = [s for s in stalls["seats"] if s["status"] == "held"]
        assert [s["seat_id"] for s in held] == [world.seats[0].id]
        assert held[0]["held_until"]
        assert str(buyer.id) not in response.text
        assert sections["general_admission"]["available"] == 10
        assert sections["general_admission"]["price_tier"]["price_minor"] == 2500

    @pytest.mark.usefixtures("no_freshness_window")
    async def test_every_state_of_seats_and_places_in_one_read(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=2, seats_per_row=4, ga_capacity=10, price_minor=0)
        assert world.floor is not None
        showtime = str(world.showtime.id)
        floor = {"showtime_id": showtime, "section_id": str(world.floor.id)}
        buyers = [await create_user(session) for _ in range(6)]

        async def hold(buyer: User, **body: object) -> dict[str, object]:
            response = await client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": showtime, **body},
                headers=auth_headers(buyer),
            )
            assert response.status_code == 201, response.json()
            held: dict[str, object] = response.json()
            return held

        async def book(buyer: User, held: dict[str, object]) -> None:
            booked = await client.post(
                "/api/bookings/create", json={"hold_id": held["id"]}, headers=auth_headers(buyer)
            )
            assert booked.json()["status"] == "confirmed"  # free: confirms itself

        await hold(buyers[0], seat_ids=[world.seats[0].id])
        lapsing_seat = await hold(buyers[1], seat_ids=[world.seats[1].id])
        await book(buyers[2], await hold(buyers[2], seat_ids=[world.seats[3].id]))
        await hold(buyers[3], **floor, quantity=3)
        lapsing_places = await hold(buyers[4], **floor, quantity=2)
        await book(buyers[5], await hold(buyers[5], **floor, quantity=2))
        block = f"/api/showtimes/{showtime}/seats/block"
        organizer = auth_headers(world.organizer)
        for body in (
            {"seat_ids": [world.seats[2].id]},
            {"section_id": floor["section_id"], "quantity": 1},
        ):
            blocked = await client.post(block, json=body, headers=organizer)
            assert blocked.status_code == 200, blocked.json()
        await session.execute(
            text(
                "UPDATE inventory_units SET held_until = now() - interval '1 second'"
                " WHERE hold_id = ANY(:holds)"
            ),
            {"holds": [lapsing_seat["id"], lapsing_places["id"]]},
        )

        sections = {
            s["kind"]: s
            for s in (await client.get(f"/api/showtimes/{showtime}/seats")).json()["sections"]
        }

        counts = ("available", "held", "sold", "blocked")
        stalls, ga = sections["reserved"], sections["general_admission"]
        assert tuple(stalls[c] for c in counts) == (5, 1, 1, 1)
        assert [s["status"] for s in stalls["seats"][:4]] == [
            "held",
            "available",
            "blocked",
            "sold",
        ]
        assert tuple(ga[c] for c in counts) == (4, 3, 2, 1)

    @pytest.mark.usefixtures("no_freshness_window")
    async def test_etag_answers_not_modified_until_a_change(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=4)
        path = f"/api/showtimes/{world.showtime.id}/seats"
        first = await client.get(path)
        tag = first.headers["ETag"]
        same = await client.get(path, headers={"If-None-Match": tag})
        assert same.status_code == 304
        buyer = await create_user(session)
        await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        changed = await client.get(path, headers={"If-None-Match": tag})
        assert changed.status_code == 200
        assert changed.headers["ETag"] != tag
        assert sum(s["status"] == "held" for s in changed.json()["sections"][0]["seats"]) == 1

    async def test_gzip_when_the_client_accepts_it(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        world = await create_world(session, rows=2, seats_per_row=4)
        response = await client.get(
            f"/api/showtimes/{world.showtime.id}/seats", headers={"Accept-Encoding": "gzip"}
        )
        assert response.headers["Content-Encoding"] == "gzip"
        assert len(response.json()["sections"][0]["seats"]) == 8

    async def test_an_events_map_is_its_showtimes(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=2)
        response = await client.get(f"/api/events/{world.event.id}/seats")
        assert response.json()["showtime_id"] == str(world.showtime.id)

    async def test_unknown_showtime_is_404(self, client: AsyncClient) -> None:
        response = await client.get("/api/showtimes/00000000-0000-0000-0000-000000000000/seats")
        assert response.status_code == 404
        assert response.json()["code"] == "showtime_not_found"
