"""GET /api/bookings/{id}/calendar.ics: the booking's showtime for the buyer's calendar."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from tests.booking.factories import create_world, free_booking
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


def _event(body: bytes) -> tuple[Calendar, Any]:
    calendar = Calendar.from_ical(body)
    [entry] = calendar.walk("VEVENT")
    return calendar, entry


class TestCalendar:
    async def test_the_showtime_then_its_move_then_its_cancellation(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer, stranger = await create_user(session), await create_user(session)
        booking = await free_booking(client, world, buyer, auth_headers, quantity=2)
        url = f"/api/bookings/{booking['id']}/calendar.ics"
        # iCalendar times are to the second.
        start, end = (
            t.replace(microsecond=0) for t in (world.showtime.starts_at, world.showtime.ends_at)
        )

        first = await client.get(url, headers=auth_headers(buyer))
        new_start = start + timedelta(days=1)
        moved = await client.put(
            f"/api/showtimes/{world.showtime.id}",
            json={"starts_at": new_start.isoformat()},
            headers=auth_headers(world.organizer),
        )
        assert moved.status_code == 200, moved.text
        after_move = await client.get(url, headers=auth_headers(buyer))
        await client.post(f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer))
        after_cancel = await client.get(url, headers=auth_headers(buyer))
        not_theirs = await client.get(url, headers=auth_headers(stranger))

        assert first.status_code == 200, first.text
        assert first.headers["content-type"].startswith("text/calendar")
        calendar, entry = _event(first.content)
        assert str(calendar["method"]) == "PUBLISH"
        assert str(entry["uid"]) == f"booking-{booking['id']}@boxoffice"
        assert (entry["dtstart"].dt, entry["dtend"].dt) == (start, end)
        assert str(entry["summary"]) == world.event.title
        assert str(entry["status"]) == "CONFIRMED"
        assert all(t["label"] in str(entry["description"]) for t in booking["tickets"])
        _, moved_entry = _event(after_move.content)
        assert moved_entry["dtstart"].dt == new_start
        assert int(moved_entry["sequence"]) > int(entry["sequence"])
        cancelled_calendar, cancelled_entry = _event(after_cancel.content)
        assert str(cancelled_entry["status"]) == "CANCELLED"
        assert str(cancelled_calendar["method"]) == "CANCEL"
        assert not_theirs.status_code == 404
