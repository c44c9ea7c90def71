from collections.abc import Callable
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import Showtime
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.kit.time import utcnow
from boxoffice.notification.service import send_showtime_reminders
from tests.booking.factories import World, create_world
from tests.factories import create_user
from tests.notification.conftest import Relay

Headers = Callable[[User], dict[str, str]]


async def _book_free_seat(
    client: AsyncClient, world: World, buyer: User, auth_headers: Headers
) -> dict[str, Any]:
    response = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": 1},
        headers=auth_headers(buyer),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "confirmed"
    booking: dict[str, Any] = response.json()
    return booking


async def _kinds(client: AsyncClient, user: User, auth_headers: Headers) -> list[str]:
    body = (await client.get("/api/users/me/notifications", headers=auth_headers(user))).json()
    return [item["kind"] for item in body["items"]]


class TestShowtimeReminders:
    async def test_holders_are_reminded_once_before_the_showtime(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
    ) -> None:
        world = await create_world(session, price_minor=0)
        world.showtime.starts_at = utcnow() + timedelta(hours=3)
        world.showtime.ends_at = world.showtime.starts_at + timedelta(hours=2)
        holder, bystander = await create_user(session), await create_user(session)
        await _book_free_seat(client, world, holder, auth_headers)

        first = await send_showtime_reminders(session, hours_before=24)
        second = await send_showtime_reminders(session, hours_before=24)
        await relay()

        assert (first, second) == (1, 0)
        assert "showtime_reminder" in await _kinds(client, holder, auth_headers)
        assert await _kinds(client, bystander, auth_headers) == []

    async def test_showtimes_beyond_the_window_are_not_reminded_yet(
        self, session: AsyncSession
    ) -> None:
        world = await create_world(session)
        world.showtime.starts_at = utcnow() + timedelta(days=3)
        world.showtime.ends_at = world.showtime.starts_at + timedelta(hours=2)
        await session.flush()

        reminded = await send_showtime_reminders(session, hours_before=24)
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.topic == Topic.showtime_reminder.value)
        )

        assert reminded == 0
        assert events == 0


class TestPushToShowtimeHolders:
    async def test_reaches_confirmed_holders_only(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        world = await create_world(session, price_minor=0)
        holder, bystander = await create_user(session), await create_user(session)
        await _book_free_seat(client, world, holder, auth_headers)

        accepted = await client.post(
            "/api/notifications/push",
            headers=auth_headers(admin),
            json={
                "audience": {"type": "showtime_holders", "id": str(world.showtime.id)},
                "title": "Doors open at 6",
                "body": "Gates open one hour early.",
            },
        )
        await relay()

        assert accepted.status_code == 202
        assert "announcement" in await _kinds(client, holder, auth_headers)
        assert await _kinds(client, bystander, auth_headers) == []

    async def test_unknown_showtime_is_404(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        world = await create_world(session)
        missing = world.showtime.id
        await session.delete(await session.get_one(Showtime, missing))
        await session.flush()

        response = await client.post(
            "/api/notifications/push",
            headers=auth_headers(admin),
            json={
                "audience": {"type": "showtime_holders", "id": str(missing)},
                "title": "t",
                "body": "b",
            },
        )

        assert response.status_code == 404
        assert response.json()["code"] == "showtime_not_found"


class TestBookingNoticeWording:
    async def test_a_confirmed_booking_notice_names_the_event_and_amount(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session)
        booking = await _book_free_seat(client, world, buyer, auth_headers)

        await relay()
        items = (
            await client.get("/api/users/me/notifications", headers=auth_headers(buyer))
        ).json()["items"]

        confirmed = next(i for i in items if i["kind"] == "booking_confirmed")
        assert confirmed["title"] == f"Booking confirmed: {world.event.title}"
        assert "$" not in confirmed["body"]
        # The reference the API gives, to find the booking by (GET /api/bookings?reference=).
        assert f"Your booking {booking['reference']} for" in confirmed["body"]
