import asyncio
from collections.abc import Callable
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.config import NotificationSettings
from boxoffice.kit.outbox import OutboxEvent, Topic, emit
from boxoffice.kit.time import for_people
from boxoffice.notification.dispatcher import Dispatcher, InAppChannel
from boxoffice.notification.models import Notification, ShowtimeReminder
from boxoffice.notification.relay import run_relay
from tests.booking.factories import World, create_world
from tests.factories import create_event, create_user
from tests.notification.conftest import RecordingEmailSender, Relay, new_id

Headers = Callable[[User], dict[str, str]]


async def titles(client: AsyncClient, headers: dict[str, str]) -> list[str]:
    body = (await client.get("/api/users/me/notifications", headers=headers)).json()
    return [item["title"] for item in body["items"]]


async def _one_given_away(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers
) -> tuple[World, User, User, User]:
    """A free showtime; a buyer with two tickets who gave one to a friend; a bystander."""
    world = await create_world(session, price_minor=0)
    buyer, friend, bystander = [await create_user(session) for _ in range(3)]
    booked = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": 2},
        headers=auth_headers(buyer),
    )
    ticket_id = booked.json()["tickets"][0]["id"]
    given = await client.post(
        f"/api/tickets/{ticket_id}/transfer",
        json={"to_email": friend.email},
        headers=auth_headers(buyer),
    )
    assert given.status_code == 200
    return world, buyer, friend, bystander


class TestEventCancelled:
    async def test_ticket_holders_in_payload_and_interested_users_are_told_once(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=organizer, title="Open Air")
        holder, curious, both = [await create_user(session) for _ in range(3)]
        for user in (curious, both):
            await client.post(f"/api/events/{event.id}/interest", headers=auth_headers(user))
        await emit(
            session,
            Topic.event_cancelled,
            event.id,
            {"event_id": str(event.id), "user_ids": [str(holder.id), str(both.id)]},
        )

        await relay()

        for user in (holder, curious, both):
            assert await titles(client, auth_headers(user)) == ["Event cancelled: Open Air"]


class TestShowtimeChanged:
    async def test_holders_named_in_the_payload_are_told_the_new_time(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        holder, other = await create_user(session), await create_user(session)
        await emit(
            session,
            Topic.showtime_changed,
            new_id(),
            {
                "event_title": "Open Air",
                "venue_name": "The Park",
                "local_starts_at": "2026-12-01T19:30:00+01:00",
                "previous_local_starts_at": "2026-11-30T19:30:00+01:00",
                "rescheduled": True,
                "user_ids": [str(holder.id)],
            },
        )

        await relay()

        body = (
            await client.get("/api/users/me/notifications", headers=auth_headers(holder))
        ).json()
        [item] = body["items"]
        assert item["title"] == "Showtime moved: Open Air"
        # No showtime to find a venue's time zone by: the offset the payload carries.
        assert "now starts at Tue 1 Dec 2026, 19:30 UTC+01:00" in item["body"]
        assert "it was Mon 30 Nov 2026, 19:30 UTC+01:00" in item["body"]
        assert item["data"]["local_starts_at"] == "2026-12-01T19:30:00+01:00"
        assert "user_ids" not in item["data"]
        assert await titles(client, auth_headers(other)) == []

    async def test_a_reschedule_tells_buyers_and_whom_they_gave_tickets_and_reminds_again(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        world, buyer, friend, bystander = await _one_given_away(client, session, auth_headers)
        # The holders were reminded of the old time already.
        session.add(ShowtimeReminder(showtime_id=world.showtime.id))
        new_start = world.showtime.starts_at + timedelta(days=2)
        moved = await client.put(
            f"/api/showtimes/{world.showtime.id}",
            json={"starts_at": new_start.isoformat()},
            headers=auth_headers(world.organizer),
        )
        assert moved.status_code == 200, moved.json()

        await relay()

        for user in (buyer, friend):
            items = (
                await client.get("/api/users/me/notifications", headers=auth_headers(user))
            ).json()["items"]
            told = [i for i in items if i["kind"] == "showtime_changed"]
            assert [i["title"] for i in told] == [f"Showtime moved: {world.event.title}"]
            assert f"now starts at {for_people(new_start, 'America/New_York')}" in told[0]["body"]
            assert told[0]["data"]["local_starts_at"] == moved.json()["local_starts_at"]
        assert await titles(client, auth_headers(bystander)) == []
        reminded = await session.scalar(
            select(func.count())
            .select_from(ShowtimeReminder)
            .where(ShowtimeReminder.showtime_id == world.showtime.id)
        )
        assert reminded == 0

    async def test_a_buyer_still_paying_is_told_and_one_who_cancelled_is_not(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        world = await create_world(session, price_minor=2500)
        paying, gone = await create_user(session), await create_user(session)
        for user in (paying, gone):
            booked = await client.post(
                "/api/bookings",
                json={"showtime_id": str(world.showtime.id), "quantity": 1},
                headers=auth_headers(user),
            )
            assert booked.json()["status"] == "pending_payment"
        cancelled = await client.post(
            f"/api/bookings/{booked.json()['id']}/cancel", headers=auth_headers(gone)
        )
        assert cancelled.status_code == 200
        moved = await client.put(
            f"/api/showtimes/{world.showtime.id}",
            json={"starts_at": (world.showtime.starts_at + timedelta(hours=2)).isoformat()},
            headers=auth_headers(world.organizer),
        )
        assert moved.status_code == 200, moved.json()

        await relay()

        def kinds(items: list[dict[str, str]]) -> set[str]:
            return {i["kind"] for i in items}

        told = await client.get("/api/users/me/notifications", headers=auth_headers(paying))
        not_told = await client.get("/api/users/me/notifications", headers=auth_headers(gone))
        assert "showtime_changed" in kinds(told.json()["items"])
        assert "showtime_changed" not in kinds(not_told.json()["items"])

    async def test_a_new_end_alone_tells_nobody(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session)
        booked = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        assert booked.status_code == 201
        session.add(ShowtimeReminder(showtime_id=world.showtime.id))
        longer = await client.put(
            f"/api/showtimes/{world.showtime.id}",
            json={"ends_at": (world.showtime.ends_at + timedelta(hours=1)).isoformat()},
            headers=auth_headers(world.organizer),
        )
        assert longer.status_code == 200, longer.json()

        await relay()

        items = (
            await client.get("/api/users/me/notifications", headers=auth_headers(buyer))
        ).json()["items"]
        assert "showtime_changed" not in {i["kind"] for i in items}
        assert await session.get(ShowtimeReminder, world.showtime.id) is not None


class TestShowtimeCancelled:
    async def test_buyers_and_whom_they_gave_tickets_are_told(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, relay: Relay
    ) -> None:
        world, buyer, friend, bystander = await _one_given_away(client, session, auth_headers)
        cancelled = await client.post(
            f"/api/showtimes/{world.showtime.id}/cancel", headers=auth_headers(world.organizer)
        )
        assert cancelled.status_code == 200, cancelled.json()

        await relay()

        for user in (buyer, friend):
            body = (
                await client.get("/api/users/me/notifications", headers=auth_headers(user))
            ).json()
            told = [i for i in body["items"] if i["kind"] == "showtime_cancelled"]
            assert [i["title"] for i in told] == [f"Showtime cancelled: {world.event.title}"]
            assert for_people(world.showtime.starts_at, "America/New_York") in told[0]["body"]
            # Told once: the tickets voided with the showtime send nothing more.
            assert "ticket_voided" not in {i["kind"] for i in body["items"]}
        friend_kinds = (
            await client.get("/api/users/me/notifications", headers=auth_headers(friend))
        ).json()["items"]
        assert sorted(i["kind"] for i in friend_kinds) == ["showtime_cancelled", "ticket_received"]
        assert await titles(client, auth_headers(bystander)) == []


class TestWaitlistOfferExpired:
    async def test_the_buyer_is_told_in_app_and_not_by_email_unless_asked(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        buyer, other = await create_user(session), await create_user(session)
        await emit(
            session,
            Topic.waitlist_offer_expired,
            new_id(),
            {"user_id": str(buyer.id), "event_title": "Open Air", "quantity": 2},
        )

        await relay()

        body = (await client.get("/api/users/me/notifications", headers=auth_headers(buyer))).json()
        [item] = body["items"]
        assert item["kind"] == "waitlist_offer_expired"
        assert item["title"] == "Offer expired: Open Air"
        assert "went to the next person waiting" in item["body"]
        assert await titles(client, auth_headers(other)) == []
        assert outbox_sender.sent == []


class TestRunRelay:
    async def test_loop_delivers_until_idle_and_stops_on_request(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            buyer = await create_user(session)
            for _ in range(5):
                await emit(session, Topic.booking_confirmed, new_id(), {"user_id": str(buyer.id)})
            await session.commit()
        stop = asyncio.Event()
        settings = NotificationSettings(relay_batch=2)

        await asyncio.wait_for(
            run_relay(stop, committed, Dispatcher([InAppChannel()]), settings, until_idle=True),
            timeout=30,
        )
        stop.set()
        await asyncio.wait_for(
            run_relay(stop, committed, Dispatcher([InAppChannel()]), settings), timeout=5
        )

        async with committed() as session:
            pending = await session.scalar(
                select(func.count()).where(OutboxEvent.delivered_at.is_(None))
            )
            delivered = await session.scalar(select(func.count(Notification.id)))
        assert (pending, delivered) == (0, 5)
