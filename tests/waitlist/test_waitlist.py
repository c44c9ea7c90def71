"""Waitlists through HTTP and the job runner, on committed transactions."""

import asyncio
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import boxoffice.waitlist.jobs  # noqa: F401  (registers the offer job)
from boxoffice.auth.models import Role, User
from boxoffice.config import NotificationSettings, WaitlistSettings
from boxoffice.kit.jobs import Worker, enqueue
from boxoffice.kit.outbox import Topic, emit
from boxoffice.notification.dispatcher import Dispatcher, InAppChannel
from boxoffice.notification.relay import run_relay
from boxoffice.waitlist import service
from boxoffice.waitlist.jobs import OFFER
from boxoffice.waitlist.schemas import EntryCreate
from tests.booking.factories import World, check_winners, create_world, held_units, post_all
from tests.factories import create_user, until_waiting_for_locks

Headers = Callable[[User], dict[str, str]]


@dataclass
class SoldOut:
    world: World
    first: User
    """Holds the only two seats in a pending booking."""
    waiting: list[User]
    booking: dict[str, Any]
    entries: list[str]


async def _sold_out(
    client: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    auth_headers: Headers,
    waiting: int = 2,
) -> SoldOut:
    async with committed() as session:
        world = await create_world(session, rows=1, seats_per_row=2)
        first = await create_user(session)
        others = [await create_user(session) for _ in range(waiting)]
        await session.commit()
    showtime = str(world.showtime.id)
    booked = await client.post(
        "/api/bookings", json={"showtime_id": showtime, "quantity": 2}, headers=auth_headers(first)
    )
    assert booked.status_code == 201, booked.text
    entries = []
    for user in others:
        refused = await client.post(
            "/api/bookings",
            json={"showtime_id": showtime, "quantity": 2},
            headers=auth_headers(user),
        )
        assert refused.status_code == 409
        body = refused.json()
        assert body["code"] == "sold_out"
        entries.append(body["waitlist_entry_id"])
    return SoldOut(world, first, others, booked.json(), entries)


async def _offered(
    client: AsyncClient, committed: async_sessionmaker[AsyncSession], auth_headers: Headers
) -> tuple[SoldOut, dict[str, Any]]:
    """Sold out with two waiting; the first buyer cancels and the offer run offers the seats
    to the first waiting: the state, and that entry as its buyer reads it."""
    state = await _sold_out(client, committed, auth_headers)
    await _seats_back(client, state, auth_headers)
    await _run_offers(committed)
    return state, await _entry(client, auth_headers(state.waiting[0]), state.entries[0])


async def _seats_back(client: AsyncClient, state: SoldOut, auth_headers: Headers) -> None:
    """The first buyer cancels their booking: both seats are free again (nothing relayed)."""
    cancelled = await client.post(
        f"/api/bookings/{state.booking['id']}/cancel", headers=auth_headers(state.first)
    )
    assert cancelled.status_code == 200


async def _run_offers(committed: async_sessionmaker[AsyncSession]) -> None:
    async with committed() as session:
        await enqueue(session, OFFER)
        await session.commit()
    assert await Worker(committed).run_until_idle() >= 1


async def _started(committed: async_sessionmaker[AsyncSession], showtime_id: uuid.UUID) -> None:
    """The showtime began a minute ago: its sales are over."""
    async with committed() as session:
        await session.execute(
            text("UPDATE showtimes SET starts_at = now() - interval '1 minute' WHERE id = :id"),
            {"id": showtime_id},
        )
        await session.commit()


async def _lapse_offers(committed: async_sessionmaker[AsyncSession], hold_id: str) -> None:
    """Move the open offers' deadline, and their hold's, into the past."""
    async with committed() as session:
        await session.execute(
            text(
                "UPDATE waitlist_entries SET offer_expires_at = now() - interval '1 second'"
                " WHERE status = 'offered'"
            )
        )
        await session.execute(
            text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": hold_id},
        )
        await session.execute(
            text(
                "UPDATE inventory_units SET held_until = now() - interval '1 second'"
                " WHERE hold_id = :id"
            ),
            {"id": hold_id},
        )
        await session.commit()


async def _entry(client: AsyncClient, headers: dict[str, str], entry_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/waitlists/{entry_id}", headers=headers)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def _scalar(committed: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> Any:
    async with committed() as session:
        return (await session.execute(text(sql), params)).scalar()


async def _accessible(committed: async_sessionmaker[AsyncSession], hold_id: str) -> Any:
    """Whether each seat a hold has is a wheelchair place."""
    return await _scalar(
        committed,
        "SELECT array_agg(s.accessible ORDER BY u.id) FROM inventory_units u"
        " JOIN seats s ON s.id = u.seat_id WHERE u.hold_id = CAST(:hold AS uuid)",
        hold=hold_id,
    )


class TestJoin:
    async def test_sold_out_one_call_joins_in_order_and_opting_out_does_not(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state = await _sold_out(committing_client, committed, auth_headers)
        b, c = state.waiting
        mine = await committing_client.get("/api/waitlists/me", headers=auth_headers(b))
        assert [e["id"] for e in mine.json()] == [state.entries[0]]
        assert mine.json()[0]["status"] == "waiting"
        assert mine.json()[0]["position"] == 1
        assert (await _entry(committing_client, auth_headers(c), state.entries[1]))["position"] == 2
        keyed = {**auth_headers(c), "Idempotency-Key": "sold-out-1"}
        body = {"showtime_id": str(state.world.showtime.id), "quantity": 2}
        first = await committing_client.post("/api/bookings", json=body, headers=keyed)
        repeat = await committing_client.post("/api/bookings", json=body, headers=keyed)
        assert first.status_code == repeat.status_code == 409
        assert repeat.headers["Idempotent-Replayed"] == "true"
        assert first.json()["waitlist_entry_id"] == state.entries[1]
        assert repeat.json()["waitlist_entry_id"] == state.entries[1]
        async with committed() as session:
            d = await create_user(session)
            await session.commit()
        refused = await committing_client.post(
            "/api/bookings",
            json={"showtime_id": str(state.world.showtime.id), "join_waitlist": False},
            headers=auth_headers(d),
        )
        assert refused.status_code == 409
        assert "waitlist_entry_id" not in refused.json()
        assert (
            await committing_client.get("/api/waitlists/me", headers=auth_headers(d))
        ).json() == []

    async def test_refused_hold_hints_at_the_waitlist_and_joining_twice_is_one_entry(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state = await _sold_out(committing_client, committed, auth_headers, waiting=0)
        async with committed() as session:
            buyer = await create_user(session)
            await session.commit()
        showtime = str(state.world.showtime.id)
        refused = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "quantity": 1},
            headers=auth_headers(buyer),
        )
        assert refused.status_code == 409
        hint = refused.json()["waitlist"]
        assert hint["join_url"] == "/api/waitlists"
        assert hint["showtime_id"] == showtime
        first = await committing_client.post(
            hint["join_url"],
            json={"showtime_id": showtime, "quantity": 1},
            headers=auth_headers(buyer),
        )
        assert first.status_code == 201
        again = await committing_client.post(
            hint["join_url"],
            json={"event_id": str(state.world.event.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        assert again.json()["id"] == first.json()["id"]
        bad = await committing_client.post(
            "/api/waitlists", json={"quantity": 1}, headers=auth_headers(buyer)
        )
        assert bad.status_code == 422


class TestOffers:
    async def test_cancellation_offers_the_seats_to_the_first_who_alone_can_book_them(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state, offer = await _offered(committing_client, committed, auth_headers)
        b, c = state.waiting
        assert offer["status"] == "offered"
        assert offer["hold_id"] is not None
        assert offer["offer_expires_at"] is not None
        assert (await _entry(committing_client, auth_headers(c), state.entries[1]))[
            "status"
        ] == "waiting"
        payload = await _scalar(
            committed,
            "SELECT payload FROM outbox_events WHERE topic = 'waitlist.offer_made'",
        )
        assert payload["user_id"] == str(b.id)
        assert payload["hold_id"] == offer["hold_id"]
        assert payload["quantity"] == 2
        assert payload["event_title"] == state.world.event.title
        unit_ids = [t["unit_id"] for t in state.booking["tickets"]]
        taken = await committing_client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(state.world.showtime.id), "unit_ids": unit_ids},
            headers=auth_headers(c),
        )
        assert taken.status_code == 409
        booked = await committing_client.post(
            "/api/bookings/create", json={"hold_id": offer["hold_id"]}, headers=auth_headers(b)
        )
        assert booked.status_code == 201, booked.text
        assert sorted(t["unit_id"] for t in booked.json()["tickets"]) == sorted(unit_ids)
        await _run_offers(committed)
        accepted = await _entry(committing_client, auth_headers(b), state.entries[0])
        assert accepted["status"] == "accepted"
        assert (await _entry(committing_client, auth_headers(c), state.entries[1]))[
            "status"
        ] == "waiting"

    async def test_an_accessible_seat_left_free_is_not_offered(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, rows=1, seats_per_row=3)
            world.seats[2].accessible = True
            first, waiting = await create_user(session), await create_user(session)
            await session.commit()
        showtime = str(world.showtime.id)
        booked = await committing_client.post(
            "/api/bookings",
            json={"showtime_id": showtime, "quantity": 2},
            headers=auth_headers(first),
        )
        refused = await committing_client.post(
            "/api/bookings",
            json={"showtime_id": showtime, "quantity": 1},
            headers=auth_headers(waiting),
        )
        entry = refused.json()["waitlist_entry_id"]

        await _run_offers(committed)
        still = await _entry(committing_client, auth_headers(waiting), entry)
        await committing_client.post(
            f"/api/bookings/{booked.json()['id']}/cancel", headers=auth_headers(first)
        )
        await _run_offers(committed)
        offered = await _entry(committing_client, auth_headers(waiting), entry)

        assert sorted(t["label"] for t in booked.json()["tickets"]) == ["Stalls A-1", "Stalls A-2"]
        assert (refused.status_code, refused.json()["code"]) == (409, "sold_out")
        assert still["status"] == "waiting"
        assert offered["status"] == "offered"
        assert await _accessible(committed, offered["hold_id"]) == [False]

    async def test_an_accessible_entry_is_offered_accessible_seats_alone(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # A-1 is a wheelchair place. Everything is sold; a buyer who needs it waits first,
        # another buyer behind. General seats come back: the first in line is passed over
        # (they are not what they wait for) and the second is offered one. Then A-1 comes
        # back: it goes to the first.
        async with committed() as session:
            world = await create_world(session, rows=1, seats_per_row=4)
            world.seats[0].accessible = True
            general, needs, waits_too, waits = [await create_user(session) for _ in range(4)]
            await session.commit()
        showtime = str(world.showtime.id)

        async def book(user: User, accessible: bool, quantity: int) -> dict[str, Any]:
            response = await committing_client.post(
                "/api/bookings",
                json={"showtime_id": showtime, "quantity": quantity, "accessible": accessible},
                headers=auth_headers(user),
            )
            result: dict[str, Any] = response.json()
            return result

        sold_general = await book(general, False, 3)
        sold_accessible = await book(needs, True, 1)
        first = await book(waits_too, True, 1)
        second = await book(waits, False, 1)
        assert (first["code"], second["code"]) == ("sold_out", "sold_out")
        first_entry = await _entry(
            committing_client, auth_headers(waits_too), first["waitlist_entry_id"]
        )
        assert first_entry["accessible"] is True
        assert first_entry["position"] == 1
        demand = await committing_client.get(
            f"/api/showtimes/{showtime}/waitlist", headers=auth_headers(world.organizer)
        )
        assert (
            demand.json()["quantity_waiting"],
            demand.json()["accessible_quantity_waiting"],
        ) == (
            2,
            1,
        )

        await committing_client.post(
            f"/api/bookings/{sold_general['id']}/cancel", headers=auth_headers(general)
        )
        await _run_offers(committed)
        passed_over = await _entry(
            committing_client, auth_headers(waits_too), first["waitlist_entry_id"]
        )
        offered = await _entry(committing_client, auth_headers(waits), second["waitlist_entry_id"])
        await committing_client.post(
            f"/api/bookings/{sold_accessible['id']}/cancel", headers=auth_headers(needs)
        )
        await _run_offers(committed)
        accessible_offer = await _entry(
            committing_client, auth_headers(waits_too), first["waitlist_entry_id"]
        )

        assert passed_over["status"] == "waiting"
        assert offered["status"] == "offered"
        assert await _accessible(committed, offered["hold_id"]) == [False]
        assert accessible_offer["status"] == "offered"
        assert await _accessible(committed, accessible_offer["hold_id"]) == [True]

    async def test_a_deactivated_account_keeps_its_place_but_is_offered_nothing(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state = await _sold_out(committing_client, committed, auth_headers)
        b, c = state.waiting
        async with committed() as session:
            await session.execute(
                text("UPDATE users SET is_active = false WHERE id = :id"), {"id": b.id}
            )
            await session.commit()
        await _seats_back(committing_client, state, auth_headers)

        await _run_offers(committed)

        statuses = await _scalar(
            committed,
            "SELECT array_agg(status ORDER BY created_at) FROM waitlist_entries"
            " WHERE showtime_id = :id",
            id=state.world.showtime.id,
        )
        assert statuses == ["waiting", "offered"]
        offered_to = await _scalar(
            committed,
            "SELECT payload->>'user_id' FROM outbox_events WHERE topic = 'waitlist.offer_made'",
        )
        assert offered_to == str(c.id)

    async def test_an_unaccepted_offer_passes_to_the_next_entry(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state, offer = await _offered(committing_client, committed, auth_headers)
        b, c = state.waiting
        first_hold = offer["hold_id"]
        await _lapse_offers(committed, first_hold)
        await _run_offers(committed)
        assert (await _entry(committing_client, auth_headers(b), state.entries[0]))[
            "status"
        ] == "expired"
        passed = await _entry(committing_client, auth_headers(c), state.entries[1])
        assert passed["status"] == "offered"
        assert passed["hold_id"] != first_hold
        assert await _scalar(
            committed, "SELECT status FROM holds WHERE id = :id", id=first_hold
        ) in ("expired",)
        expired_event = await _scalar(
            committed, "SELECT payload FROM outbox_events WHERE topic = 'waitlist.offer_expired'"
        )
        assert expired_event["user_id"] == str(b.id)
        assert expired_event["event_id"] == str(state.world.event.id)
        # The buyer whose offer lapsed is told in-app, after the offer itself.
        await _relay_until_idle(committed)
        assert await _notices(committing_client, auth_headers(b)) == [
            ("waitlist_offer_expired", f"Offer expired: {state.world.event.title}"),
            ("waitlist_offer", f"Seats available: {state.world.event.title}"),
        ]
        assert expired_event["event_title"] == state.world.event.title
        late = await committing_client.post(
            "/api/bookings/create", json={"hold_id": first_hold}, headers=auth_headers(b)
        )
        assert late.status_code in (409, 410)
        booked = await committing_client.post(
            "/api/bookings/create", json={"hold_id": passed["hold_id"]}, headers=auth_headers(c)
        )
        assert booked.status_code == 201, booked.text


async def _notices(client: AsyncClient, headers: dict[str, str]) -> list[tuple[str, str]]:
    """The user's notifications, newest first: (kind, title)."""
    items = (await client.get("/api/users/me/notifications", headers=headers)).json()["items"]
    return [(n["kind"], n["title"]) for n in items]


async def _relay_until_idle(committed: async_sessionmaker[AsyncSession]) -> None:
    await asyncio.wait_for(
        run_relay(
            asyncio.Event(),
            committed,
            Dispatcher([InAppChannel()]),
            NotificationSettings(),
            until_idle=True,
        ),
        timeout=30,
    )


class TestReturnedUnitsAreOfferedPromptly:
    async def test_relayed_release_queues_an_offer_run_for_its_showtime(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state = await _sold_out(committing_client, committed, auth_headers)
        b, c = state.waiting
        worker = Worker(committed)
        await worker.sync_schedules()
        async with committed() as session:
            # The periodic offer run is an hour away: only the release can trigger an offer.
            await session.execute(text("UPDATE job_schedules SET next_run_at = now() + '1h'"))
            await session.commit()
        await _seats_back(committing_client, state, auth_headers)
        assert await worker.run_until_idle() == 0

        await _relay_until_idle(committed)

        queued = await _scalar(
            committed,
            "SELECT payload FROM jobs WHERE kind = :kind AND status = 'queued'",
            kind=OFFER,
        )
        assert queued == {"showtime_id": str(state.world.showtime.id)}
        assert await worker.run_until_idle() == 1
        offer = await _entry(committing_client, auth_headers(b), state.entries[0])
        assert offer["status"] == "offered"
        assert (await _entry(committing_client, auth_headers(c), state.entries[1]))[
            "status"
        ] == "waiting"

    async def test_the_periodic_run_queues_a_run_only_where_there_is_something_to_offer(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # Sold out, two waiting: the periodic run queues nothing. Seats come back, and the
        # relay has not passed their event on (it is down, say): the next periodic run
        # queues a run for the showtime, which offers them.
        state = await _sold_out(committing_client, committed, auth_headers)
        per_showtime = "SELECT count(*) FROM jobs WHERE kind = :kind AND payload ? 'showtime_id'"
        await _run_offers(committed)
        assert await _scalar(committed, per_showtime, kind=OFFER) == 0
        await _seats_back(committing_client, state, auth_headers)
        await _run_offers(committed)

        assert await _scalar(committed, per_showtime, kind=OFFER) == 1
        offer = await _entry(committing_client, auth_headers(state.waiting[0]), state.entries[0])
        assert offer["status"] == "offered"

    async def test_the_periodic_run_closes_a_started_showtimes_waitlist_and_queues_nothing(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # Seats are free and buyers wait, but the show has begun: sales are over, so no run
        # is queued for it (every five seconds, for ever, for every past show otherwise),
        # and the waiting entries close.
        state = await _sold_out(committing_client, committed, auth_headers)
        await _seats_back(committing_client, state, auth_headers)
        await _started(committed, state.world.showtime.id)

        await _run_offers(committed)

        per_showtime = "SELECT count(*) FROM jobs WHERE kind = :kind AND payload ? 'showtime_id'"
        assert await _scalar(committed, per_showtime, kind=OFFER) == 0
        await _relay_until_idle(committed)
        for user, entry_id in zip(state.waiting, state.entries, strict=True):
            entry = await _entry(committing_client, auth_headers(user), entry_id)
            assert (entry["status"], entry["position"]) == ("closed", None)
            assert await _notices(committing_client, auth_headers(user)) == [
                ("waitlist_closed", f"Waitlist closed: {state.world.event.title}")
            ]
        told = await _scalar(
            committed,
            "SELECT array_agg(payload->>'user_id' ORDER BY payload->>'user_id') FROM outbox_events"
            " WHERE topic = 'waitlist.closed'",
        )
        assert told == sorted(str(u.id) for u in state.waiting)

    async def test_an_offer_open_when_sales_end_is_settled_at_once_and_its_buyer_told(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The first waiting buyer holds an offer; the show begins before they book. The
        # offer cannot be booked any more and nobody is next in line: the periodic run ends
        # it now (not when it would have lapsed) and tells its buyer the waitlist closed,
        # not that the seats went to the next person.
        state, offer = await _offered(committing_client, committed, auth_headers)
        b, c = state.waiting
        await _started(committed, state.world.showtime.id)

        await _run_offers(committed)
        await _relay_until_idle(committed)

        ended = await _entry(committing_client, auth_headers(b), state.entries[0])
        assert ended["status"] == "expired"
        hold = "SELECT status FROM holds WHERE id = :id"
        assert await _scalar(committed, hold, id=offer["hold_id"]) == "expired"
        free = "SELECT count(*) FROM inventory_units WHERE showtime_id = :id AND hold_id IS NULL"
        assert await _scalar(committed, free, id=state.world.showtime.id) == 2
        closed = [("waitlist_closed", f"Waitlist closed: {state.world.event.title}")]
        offered = [("waitlist_offer", f"Seats available: {state.world.event.title}")]
        assert await _notices(committing_client, auth_headers(b)) == closed + offered
        assert (await _entry(committing_client, auth_headers(c), state.entries[1]))[
            "status"
        ] == "closed"
        assert await _notices(committing_client, auth_headers(c)) == closed
        lapsed = "SELECT count(*) FROM outbox_events WHERE topic = 'waitlist.offer_expired'"
        assert await _scalar(committed, lapsed) == 0

    async def test_closing_skips_an_entry_an_offer_run_has_locked(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The periodic run closes past entries after settling offers, so it may hold
        # version rows an offer run needs: it must not wait for an entry such a run has
        # locked. The locked one is closed by the next run.
        state = await _sold_out(committing_client, committed, auth_headers)
        await _started(committed, state.world.showtime.id)
        locked = state.entries[0]
        async with committed() as offering, offering.begin():
            await offering.execute(
                text("SELECT 1 FROM waitlist_entries WHERE id = CAST(:id AS uuid) FOR UPDATE"),
                {"id": locked},
            )
            async with committed() as session, session.begin():
                closed_now = await asyncio.wait_for(service.close_past(session, 200), 5)
        async with committed() as session, session.begin():
            closed_next = await service.close_past(session, 200)

        assert (closed_now, closed_next) == (1, 1)
        statuses = "SELECT DISTINCT status FROM waitlist_entries WHERE showtime_id = :id"
        assert await _scalar(committed, statuses, id=state.world.showtime.id) == "closed"

    async def test_releases_relayed_before_the_run_starts_share_one_run(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state = await _sold_out(committing_client, committed, auth_headers, waiting=1)
        showtime = str(state.world.showtime.id)
        async with committed() as session:
            for _ in range(3):
                await emit(
                    session,
                    Topic.units_released,
                    showtime,
                    {"showtime_id": showtime, "unit_ids": [], "reason": "test"},
                )
            await session.commit()

        await _relay_until_idle(committed)

        runs = await _scalar(committed, "SELECT count(*) FROM jobs WHERE kind = :kind", kind=OFFER)
        assert runs == 1


class TestLeaveAndPrivacy:
    async def test_leaving_an_offer_frees_its_seats_and_strangers_see_nothing(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state, _ = await _offered(committing_client, committed, auth_headers)
        b, c = state.waiting
        entry = state.entries[0]
        for method in ("GET", "DELETE"):
            stranger = await committing_client.request(
                method, f"/api/waitlists/{entry}", headers=auth_headers(c)
            )
            assert stranger.status_code == 404
            assert stranger.json()["code"] == "waitlist_entry_not_found"
        hold_id = (await _entry(committing_client, auth_headers(b), entry))["hold_id"]
        left = await committing_client.delete(f"/api/waitlists/{entry}", headers=auth_headers(b))
        assert left.status_code == 200
        assert left.json()["status"] == "left"
        assert await _scalar(committed, "SELECT status FROM holds WHERE id = :id", id=hold_id) == (
            "released"
        )
        held = await _scalar(
            committed, "SELECT count(*) FROM inventory_units WHERE hold_id = :id", id=hold_id
        )
        assert held == 0
        twice = await committing_client.delete(f"/api/waitlists/{entry}", headers=auth_headers(b))
        assert twice.status_code == 409
        await _run_offers(committed)
        assert (await _entry(committing_client, auth_headers(c), state.entries[1]))[
            "status"
        ] == "offered"

    async def test_organizers_see_demand_of_their_showtimes_only(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        state = await _sold_out(committing_client, committed, auth_headers)
        async with committed() as session:
            other_organizer = await create_user(session, role=Role.organizer)
            admin = await create_user(session, role=Role.admin)
            await session.commit()
        url = f"/api/showtimes/{state.world.showtime.id}/waitlist"
        for user in (state.world.organizer, admin):
            summary = await committing_client.get(url, headers=auth_headers(user))
            assert summary.status_code == 200
            assert summary.json()["entries_waiting"] == 2
            assert summary.json()["quantity_waiting"] == 4
            assert summary.json()["accessible_quantity_waiting"] == 0
        for user in (other_organizer, state.waiting[0]):
            refused = await committing_client.get(url, headers=auth_headers(user))
            assert refused.status_code == 404


class TestConcurrentOffers:
    async def test_racing_offer_runs_never_offer_a_unit_or_an_entry_twice(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            world = await create_world(session, rows=2, seats_per_row=5)
            # Two of the free seats are wheelchair places; every third buyer waits for one.
            for seat in world.seats[-2:]:
                seat.accessible = True
            buyers = [await create_user(session) for _ in range(12)]
            await session.commit()
        async with committed() as session:
            # 4 of the 10 seats stay free; the rest are sold.
            await session.execute(
                text(
                    "UPDATE inventory_units SET state = 'sold' WHERE id IN (SELECT id FROM"
                    " inventory_units WHERE showtime_id = :id ORDER BY id LIMIT 6)"
                ),
                {"id": world.showtime.id},
            )
            for i, buyer in enumerate(buyers):
                await service.join(
                    session,
                    buyer,
                    EntryCreate(showtime_id=world.showtime.id, quantity=1, accessible=i % 3 == 0),
                )
            await session.commit()
        settings = WaitlistSettings(offer_batch=2)

        async def run() -> None:
            async with committed() as session, session.begin():
                await service.offer_released_units(session, settings, world.showtime.id)

        await asyncio.gather(*(run() for _ in range(6)))
        await run()
        async with committed() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT e.id, e.offers_made, count(u.id),"
                        " bool_and(s.accessible = e.accessible) FROM waitlist_entries e"
                        " JOIN holds h ON h.id = e.hold_id"
                        " JOIN inventory_units u ON u.hold_id = h.id AND u.state = 'held'"
                        " JOIN seats s ON s.id = u.seat_id"
                        " WHERE e.status = 'offered' GROUP BY e.id, e.offers_made"
                    )
                )
            ).all()
            held = (
                await session.execute(
                    text("SELECT count(*) FROM inventory_units WHERE state = 'held'")
                )
            ).scalar()
            holds = (await session.execute(text("SELECT count(*) FROM holds"))).scalar()
        assert len(rows) == 4
        # Each entry got one seat, of the kind it waits for.
        assert all(made == 1 and units == 1 and kind for _id, made, units, kind in rows)
        assert held == 4
        assert holds == 4

    async def test_an_offer_booked_while_settling_waited_for_it_is_accepted(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The offer's deadline has passed, but its buyer is booking its hold at that moment
        # (their transaction has the hold locked). The settling run waits for that hold; once
        # the booking commits, the offer is accepted, not expired (and the buyer is not told
        # it lapsed).
        state, offer = await _offered(committing_client, committed, auth_headers)
        b, hold_id = state.waiting[0], offer["hold_id"]
        async with committed() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE waitlist_entries SET offer_expires_at = now() - interval '1 second'"
                    " WHERE id = :id"
                ),
                {"id": state.entries[0]},
            )

        async def settle() -> tuple[int, int]:
            async with committed() as session, session.begin():
                return await service.settle_offers(session, WaitlistSettings())

        async with committed() as booking, booking.begin():
            await booking.execute(
                text("SELECT 1 FROM holds WHERE id = :id FOR NO KEY UPDATE"), {"id": hold_id}
            )
            settling = asyncio.create_task(settle())
            await until_waiting_for_locks(committed)
            await booking.execute(
                text("UPDATE holds SET status = 'converted' WHERE id = :id"), {"id": hold_id}
            )
        assert await settling == (1, 0)
        entry = await _entry(committing_client, auth_headers(b), state.entries[0])
        assert entry["status"] == "accepted"
        assert not await _scalar(
            committed, "SELECT count(*) FROM outbox_events WHERE topic = 'waitlist.offer_expired'"
        )

    async def test_settling_lapsed_offers_while_buyers_claim_their_seats(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        one_version_shard: None,
    ) -> None:
        # Ten offers lapse; a settling run releases their holds in one transaction while
        # buyers claim the same seats (a lapsed offer's seats are anyone's). Neither may
        # deadlock the other, and every seat ends either a buyer's or free.
        for round_ in range(4):
            async with committed() as session:
                world = await create_world(session, rows=2, seats_per_row=10)
                waiting = [await create_user(session) for _ in range(10)]
                racers = [await create_user(session) for _ in range(30)]
                for user in waiting:
                    await service.join(
                        session, user, EntryCreate(showtime_id=world.showtime.id, quantity=2)
                    )
                await session.commit()
            async with committed() as session, session.begin():
                assert (
                    await service.offer_released_units(
                        session, WaitlistSettings(), world.showtime.id
                    )
                    == 10
                )
            async with committed() as session:
                offers = (
                    await session.execute(
                        text(
                            "SELECT hold_id, array_agg(seat_id) FROM inventory_units"
                            " WHERE showtime_id = :s AND state = 'held' GROUP BY hold_id"
                        ),
                        {"s": world.showtime.id},
                    )
                ).all()
            for hold_id, _ in offers:
                await _lapse_offers(committed, str(hold_id))
            seats = [list(seat_ids) for _, seat_ids in offers]
            rng = random.Random(round_)
            bodies = [
                {"showtime_id": str(world.showtime.id), "seat_ids": rng.choice(seats)}
                for _ in racers
            ]

            async def settle() -> tuple[int, int]:
                async with committed() as session, session.begin():
                    return await service.settle_offers(session, WaitlistSettings())

            settling = asyncio.create_task(settle())
            responses = await post_all(committing_client, racers, auth_headers, bodies, gap=0.003)
            assert await settling == (0, 10)
            await check_winners(committed, world, responses, {"seats_unavailable"})


class TestBuyerLimitOnOffers:
    async def test_a_buyer_who_has_their_fill_is_passed_over_and_joins_no_more_than_it(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, rows=1, seats_per_row=4, max_tickets_per_buyer=2)
            first, full, next_in_line = [await create_user(session) for _ in range(3)]
            await session.commit()
        showtime = str(world.showtime.id)

        async def book(user: User, quantity: int) -> Any:
            return await committing_client.post(
                "/api/bookings",
                json={"showtime_id": showtime, "quantity": quantity},
                headers=auth_headers(user),
            )

        assert (await book(full, 2)).status_code == 201
        taken = await book(first, 2)
        assert taken.status_code == 201
        # `full` has the two places the limit allows and joins anyway; a join asking for
        # more than the limit is cut to it.
        joined = await committing_client.post(
            "/api/waitlists",
            json={"showtime_id": showtime, "quantity": 1},
            headers=auth_headers(full),
        )
        assert joined.status_code in (200, 201), joined.json()
        wanting = await committing_client.post(
            "/api/waitlists",
            json={"showtime_id": showtime, "quantity": 5},
            headers=auth_headers(next_in_line),
        )
        assert wanting.json()["quantity"] == 2
        cancelled = await committing_client.post(
            f"/api/bookings/{taken.json()['id']}/cancel", headers=auth_headers(first)
        )
        assert cancelled.status_code == 200
        await _run_offers(committed)
        passed_over = await _entry(committing_client, auth_headers(full), joined.json()["id"])
        assert passed_over["status"] == "waiting"
        offered = await _entry(committing_client, auth_headers(next_in_line), wanting.json()["id"])
        assert offered["status"] == "offered"
        assert (
            await _scalar(
                committed,
                "SELECT count(*) FROM holds WHERE user_id = :u AND status = 'active'",
                u=full.id,
            )
            == 0
        )

    async def test_a_buyer_busy_with_their_own_request_is_offered_on_the_next_run(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, rows=1, seats_per_row=2, max_tickets_per_buyer=2)
            first, waiting = await create_user(session), await create_user(session)
            await session.commit()
        showtime = str(world.showtime.id)
        taken = await committing_client.post(
            "/api/bookings",
            json={"showtime_id": showtime, "quantity": 2},
            headers=auth_headers(first),
        )
        joined = await committing_client.post(
            "/api/waitlists",
            json={"showtime_id": showtime, "quantity": 2},
            headers=auth_headers(waiting),
        )
        await committing_client.post(
            f"/api/bookings/{taken.json()['id']}/cancel", headers=auth_headers(first)
        )
        # A request of the waiting buyer's own holds their lock while the offers run.
        async with committed() as busy:
            await busy.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"hold:{waiting.id}:{showtime}"},
            )
            await _run_offers(committed)
            entry = await _entry(committing_client, auth_headers(waiting), joined.json()["id"])
            assert entry["status"] == "waiting"
            await busy.commit()
        await _run_offers(committed)
        entry = await _entry(committing_client, auth_headers(waiting), joined.json()["id"])
        assert entry["status"] == "offered"

    async def test_offers_racing_the_buyers_own_holds_never_pass_the_limit(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, rows=2, seats_per_row=10, max_tickets_per_buyer=2)
            buyers = [await create_user(session) for _ in range(5)]
            await session.commit()
        showtime = str(world.showtime.id)
        for buyer in buyers:
            joined = await committing_client.post(
                "/api/waitlists",
                json={"showtime_id": showtime, "quantity": 2},
                headers=auth_headers(buyer),
            )
            assert joined.status_code in (200, 201), joined.json()
        # The offer run (each waiting buyer offered two places, best first) and every buyer
        # holding two seats of the back row themselves, at once.
        back_row = [s.id for s in world.seats[10:]]
        await asyncio.gather(
            _run_offers(committed),
            *(
                committing_client.post(
                    "/api/bookings/hold-seats",
                    json={"showtime_id": showtime, "seat_ids": back_row[2 * i : 2 * i + 2]},
                    headers=auth_headers(buyer),
                )
                for i, buyer in enumerate(buyers)
            ),
        )
        for buyer in buyers:
            held = await _scalar(
                committed,
                "SELECT count(*) FROM inventory_units u JOIN holds h ON h.id = u.hold_id"
                " WHERE h.user_id = :u AND h.status = 'active' AND u.state = 'held'",
                u=buyer.id,
            )
            assert held <= 2


class TestShowtimeCancelled:
    async def test_its_waitlist_closes_its_holds_are_released_and_everyone_is_told(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # One waiting buyer has an open offer (a hold on both seats), the other still waits.
        state, offer = await _offered(committing_client, committed, auth_headers)
        offered, waiting = state.waiting
        showtime = str(state.world.showtime.id)

        cancelled = await committing_client.post(
            f"/api/showtimes/{showtime}/cancel", headers=auth_headers(state.world.organizer)
        )

        assert cancelled.status_code == 200, cancelled.text
        for user, entry_id in zip(state.waiting, state.entries, strict=True):
            entry = await _entry(committing_client, auth_headers(user), entry_id)
            assert entry["status"] == "cancelled"
            assert entry["hold_id"] is None
        live = await committing_client.get(
            "/api/bookings/hold-status",
            params={"showtime_id": showtime},
            headers=auth_headers(offered),
        )
        assert live.status_code == 200
        assert live.json() == []
        hold_status = "SELECT status FROM holds WHERE id = CAST(:id AS uuid)"
        assert await _scalar(committed, hold_status, id=offer["hold_id"]) == "released"
        held = "SELECT count(*) FROM inventory_units WHERE showtime_id = :id AND state = 'held'"
        assert await _scalar(committed, held, id=state.world.showtime.id) == 0
        told = await _scalar(
            committed,
            "SELECT payload -> 'user_ids' FROM outbox_events WHERE topic = :topic",
            topic=Topic.showtime_cancelled.value,
        )
        # The waiting and the offered; not the first buyer, whose booking ended before.
        assert sorted(told) == sorted([str(offered.id), str(waiting.id)])
        # Joining again is refused: the showtime is off sale.
        again = await committing_client.post(
            "/api/waitlists",
            json={"showtime_id": showtime, "quantity": 1},
            headers=auth_headers(waiting),
        )
        assert again.status_code == 403
        assert again.json()["code"] == "sales_closed"

    async def test_an_offer_run_waits_for_a_cancel_under_way_then_offers_nothing(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The seats are free again and two buyers wait. A cancel has updated the showtime
        # and is still settling when an offer run starts: the run waits for it, then reads
        # the showtime as cancelled and holds nothing for anyone.
        state = await _sold_out(committing_client, committed, auth_headers)
        await _seats_back(committing_client, state, auth_headers)

        async def offer() -> int:
            async with committed() as session, session.begin():
                return await service.offer_released_units(
                    session, WaitlistSettings(), showtime_id=state.world.showtime.id
                )

        async with committed() as cancelling, cancelling.begin():
            await cancelling.execute(
                text("UPDATE showtimes SET status = 'cancelled' WHERE id = :id"),
                {"id": state.world.showtime.id},
            )
            offering = asyncio.create_task(offer())
            await until_waiting_for_locks(committed)
        assert await offering == 0
        active = "SELECT count(*) FROM holds WHERE status = 'active'"
        assert await _scalar(committed, active) == 0

    async def test_offer_runs_racing_the_cancel_leave_nothing_held_or_waiting(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        one_version_shard: None,
    ) -> None:
        # Ten buyers wait for two seats each of twenty free ones; offer runs (one
        # transaction each, as the worker's are) go on while the organizer cancels. Whatever
        # a run offered before the cancel, the cancel releases; a run after it offers
        # nothing; none deadlocks with the cancel.
        settings = WaitlistSettings(offer_batch=3)
        for round_ in range(4):
            async with committed() as session:
                world = await create_world(session, rows=2, seats_per_row=10)
                waiting = [await create_user(session) for _ in range(10)]
                for user in waiting:
                    await service.join(
                        session, user, EntryCreate(showtime_id=world.showtime.id, quantity=2)
                    )
                await session.commit()

            async def offer(delay: float, world: World = world) -> int:
                await asyncio.sleep(delay)
                async with committed() as session, session.begin():
                    return await service.offer_released_units(
                        session, settings, showtime_id=world.showtime.id
                    )

            rng = random.Random(round_)
            runs = [asyncio.create_task(offer(rng.uniform(0, 0.05))) for _ in range(6)]
            await asyncio.sleep(rng.uniform(0, 0.03))
            cancelled = await committing_client.post(
                f"/api/showtimes/{world.showtime.id}/cancel",
                headers=auth_headers(world.organizer),
            )
            assert cancelled.status_code == 200, cancelled.text
            await asyncio.gather(*runs)
            showtime = {"id": world.showtime.id}
            assert await held_units(committed, world) == {}
            open_entries = (
                "SELECT count(*) FROM waitlist_entries"
                " WHERE showtime_id = :id AND status IN ('waiting', 'offered')"
            )
            assert await _scalar(committed, open_entries, **showtime) == 0
            active = "SELECT count(*) FROM holds WHERE showtime_id = :id AND status = 'active'"
            assert await _scalar(committed, active, **showtime) == 0
