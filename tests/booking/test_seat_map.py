from collections.abc import Callable

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.config import BookingSettings, Settings
from tests.booking.factories import create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


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

    async def test_etag_answers_not_modified_until_a_change(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        # No freshness window: every read checks the version, so the change shows at once.
        app.state.settings = settings.model_copy(
            update={"booking": BookingSettings(seat_map_refresh_ms=0)}
        )
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
