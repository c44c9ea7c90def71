"""Rescheduling a showtime: PUT /api/showtimes/{id} with new times."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import Showtime
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.kit.time import utcnow
from tests.catalog.helpers import make_event, make_venue, soon
from tests.factories import create_city, create_user

Headers = Callable[[User], dict[str, str]]


async def _changes(session: AsyncSession, showtime_id: str) -> list[dict[str, Any]]:
    events = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.topic == "showtime.changed", OutboxEvent.aggregate_id == showtime_id)
        .order_by(OutboxEvent.id)
    )
    return [dict(e.payload) for e in events]


async def _scheduled(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers
) -> tuple[User, dict[str, Any]]:
    """An organizer and a published event's one showtime (5 days ahead, 19:00-21:00 UTC)."""
    organizer = await create_user(session, role=Role.organizer)
    venue = await make_venue(client, auth_headers(organizer), await create_city(session))
    event = await make_event(client, auth_headers(organizer), venue)
    showtime: dict[str, Any] = event["showtimes"][0]
    return organizer, showtime


class TestReschedule:
    async def test_a_new_start_moves_the_performance_and_is_announced(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer, showtime = await _scheduled(client, session, auth_headers)
        new_start = soon(9, hour=20)

        response = await client.put(
            f"/api/showtimes/{showtime['id']}",
            json={"starts_at": new_start.isoformat()},
            headers=auth_headers(organizer),
        )
        read = await client.get(f"/api/showtimes/{showtime['id']}")

        assert response.status_code == 200, response.text
        moved = response.json()
        assert datetime.fromisoformat(moved["starts_at"]) == new_start
        # Given the start alone, it keeps its two hours.
        assert datetime.fromisoformat(moved["ends_at"]) == new_start + timedelta(hours=2)
        assert moved["rescheduled_at"] is not None
        assert read.json()["starts_at"] == moved["starts_at"]
        [change] = await _changes(session, showtime["id"])
        assert change["rescheduled"] is True
        assert datetime.fromisoformat(change["starts_at"]) == new_start
        assert (
            change["previous_starts_at"]
            == datetime.fromisoformat(showtime["starts_at"]).isoformat()
        )
        assert change["event_title"] == "Jazz Night"
        assert change["organizer_id"] == str(organizer.id)

    async def test_times_without_an_offset_are_the_venues_wall_clock(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer, showtime = await _scheduled(client, session, auth_headers)
        day = soon(10).date().isoformat()

        response = await client.put(
            f"/api/showtimes/{showtime['id']}",
            json={"starts_at": f"{day}T19:30:00", "ends_at": f"{day}T23:00:00"},
            headers=auth_headers(organizer),
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["timezone"] == "America/New_York"
        assert body["local_starts_at"].startswith(f"{day}T19:30:00")
        length = datetime.fromisoformat(body["ends_at"]) - datetime.fromisoformat(body["starts_at"])
        assert length == timedelta(hours=3, minutes=30)

    async def test_a_new_end_alone_is_saved_but_is_no_reschedule(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer, showtime = await _scheduled(client, session, auth_headers)
        new_end = datetime.fromisoformat(showtime["ends_at"]) + timedelta(minutes=45)

        response = await client.put(
            f"/api/showtimes/{showtime['id']}",
            json={"ends_at": new_end.isoformat()},
            headers=auth_headers(organizer),
        )

        assert response.status_code == 200, response.text
        assert response.json()["starts_at"] == showtime["starts_at"]
        assert datetime.fromisoformat(response.json()["ends_at"]) == new_end
        assert response.json()["rescheduled_at"] is None
        [change] = await _changes(session, showtime["id"])
        assert change["rescheduled"] is False

    async def test_the_same_times_change_nothing_and_tell_nobody(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer, showtime = await _scheduled(client, session, auth_headers)

        response = await client.put(
            f"/api/showtimes/{showtime['id']}",
            json={"starts_at": showtime["starts_at"], "ends_at": showtime["ends_at"]},
            headers=auth_headers(organizer),
        )

        assert response.status_code == 200, response.text
        assert response.json()["rescheduled_at"] is None
        assert await _changes(session, showtime["id"]) == []


class TestRescheduleRefused:
    async def test_bad_times_are_422_and_change_nothing(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer, showtime = await _scheduled(client, session, auth_headers)
        url = f"/api/showtimes/{showtime['id']}"
        start = datetime.fromisoformat(showtime["starts_at"])
        cases = {
            "empty": ({}, "validation_error"),
            "mixed offsets": (
                {"starts_at": "2030-01-01T19:00:00", "ends_at": "2030-01-01T22:00:00+00:00"},
                "validation_error",
            ),
            "end before start": (
                {"ends_at": (start - timedelta(minutes=1)).isoformat()},
                "invalid_showtime_times",
            ),
            "start in the past": (
                {"starts_at": (utcnow() - timedelta(hours=1)).isoformat()},
                "invalid_showtime_times",
            ),
            "not a time": ({"starts_at": "tomorrow evening"}, "validation_error"),
        }
        for name, (body, code) in cases.items():
            response = await client.put(url, json=body, headers=auth_headers(organizer))
            assert response.status_code == 422, name
            assert response.headers["content-type"] == "application/problem+json", name
            assert response.json()["code"] == code, name

        after = (await client.get(url)).json()
        assert (after["starts_at"], after["ends_at"]) == (
            showtime["starts_at"],
            showtime["ends_at"],
        )
        assert await _changes(session, showtime["id"]) == []

    async def test_only_the_events_manager_may_reschedule(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _organizer, showtime = await _scheduled(client, session, auth_headers)
        other = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        admin = await create_user(session, role=Role.admin)
        url = f"/api/showtimes/{showtime['id']}"
        body = {"starts_at": soon(8).isoformat()}

        anonymous = await client.put(url, json=body)
        as_buyer = await client.put(url, json=body, headers=auth_headers(buyer))
        as_other = await client.put(url, json=body, headers=auth_headers(other))
        unknown = await client.put(
            "/api/showtimes/00000000-0000-0000-0000-000000000000",
            json=body,
            headers=auth_headers(admin),
        )
        as_admin = await client.put(url, json=body, headers=auth_headers(admin))

        assert anonymous.status_code == 401
        assert as_buyer.status_code == 403
        assert as_other.json()["code"] == "not_event_owner"
        assert unknown.json()["code"] == "showtime_not_found"
        assert as_admin.status_code == 200

    async def test_a_cancelled_or_started_showtime_cannot_move(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue, days=(5, 6))
        cancelled_id, started_id = (s["id"] for s in event["showtimes"])
        stored = await session.get(Showtime, started_id)
        assert stored is not None
        stored.starts_at = utcnow() - timedelta(minutes=5)
        await session.flush()
        body = {"starts_at": soon(8).isoformat()}
        headers = auth_headers(organizer)

        await client.post(f"/api/showtimes/{cancelled_id}/cancel", headers=headers)
        cancelled = await client.put(f"/api/showtimes/{cancelled_id}", json=body, headers=headers)
        begun = await client.put(f"/api/showtimes/{started_id}", json=body, headers=headers)

        assert cancelled.status_code == 409
        assert cancelled.json()["code"] == "showtime_cancelled"
        assert begun.status_code == 409
        assert begun.json()["code"] == "showtime_started"


class TestRescheduleRace:
    async def test_a_reschedule_racing_a_cancel_never_leaves_a_cancelled_showtime_moved(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        async with committed() as session:
            organizer = await create_user(session, role=Role.organizer)
            city = await create_city(session)
            await session.commit()
        headers = auth_headers(organizer)
        venue = await make_venue(committing_client, headers, city)
        event = await make_event(committing_client, headers, venue)
        showtime = event["showtimes"][0]
        url = f"/api/showtimes/{showtime['id']}"
        new_start = soon(11)

        moved, cancelled = await asyncio.gather(
            committing_client.put(url, json={"starts_at": new_start.isoformat()}, headers=headers),
            committing_client.post(f"{url}/cancel", headers=headers),
        )

        assert cancelled.status_code == 200, cancelled.text
        async with committed() as session:
            row = (
                await session.execute(
                    text("SELECT status, starts_at FROM showtimes WHERE id = :id"),
                    {"id": showtime["id"]},
                )
            ).one()
            changes = await _changes(session, showtime["id"])
        assert row.status == "cancelled"
        if moved.status_code == 200:
            # The move committed first; the cancel then saw the moved showtime.
            assert row.starts_at == new_start
            assert len(changes) == 1
        else:
            assert moved.json()["code"] == "showtime_cancelled"
            assert row.starts_at == datetime.fromisoformat(showtime["starts_at"])
            assert changes == []
