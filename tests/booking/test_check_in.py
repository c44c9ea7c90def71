"""Check-in at the door: a ticket's signed code admits it once, for its own showtime."""

import asyncio
from collections.abc import Callable
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from tests.booking.factories import World, committed_world, create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _free_booking(
    client: AsyncClient, world: World, buyer: User, auth_headers: Headers, quantity: int = 2
) -> dict[str, Any]:
    """A booking of price 0: it confirms itself, so its tickets are issued with codes."""
    response = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": quantity},
        headers=auth_headers(buyer),
    )
    assert response.status_code == 201, response.json()
    booking: dict[str, Any] = response.json()
    assert booking["status"] == "confirmed"
    return booking


async def _sold(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers
) -> tuple[World, User, dict[str, Any]]:
    """A free showtime and a buyer's confirmed booking of two seats on it."""
    world = await create_world(session, price_minor=0)
    buyer = await create_user(session)
    return world, buyer, await _free_booking(client, world, buyer, auth_headers)


def _scan(world: World, code: str) -> tuple[str, dict[str, str]]:
    return f"/api/showtimes/{world.showtime.id}/check-ins", {"code": code}


class TestCheckIn:
    async def test_a_ticket_is_admitted_once_and_the_door_counts_it(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _sold(client, session, auth_headers)
        ticket = booking["tickets"][0]
        door = auth_headers(world.organizer)
        path, body = _scan(world, ticket["code"])

        admitted = await client.post(path, json=body, headers=door)
        assert admitted.status_code == 201, admitted.json()
        out = admitted.json()
        assert out["ticket_id"] == ticket["id"]
        assert (out["booking_id"], out["label"]) == (booking["id"], ticket["label"])
        assert out["checked_in_by"] == str(world.organizer.id)
        assert out["checked_in_at"] is not None

        again = await client.post(path, json=body, headers=door)
        assert again.status_code == 409
        assert again.json()["code"] == "ticket_already_checked_in"
        assert again.json()["checked_in_at"] is not None

        seen = await client.get(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        by_id = {t["id"]: t for t in seen.json()["tickets"]}
        assert by_id[ticket["id"]]["checked_in_at"] is not None
        assert by_id[booking["tickets"][1]["id"]]["checked_in_at"] is None
        count = await client.get(path, headers=door)
        assert count.json() == {
            "showtime_id": str(world.showtime.id),
            "tickets_issued": 2,
            "checked_in": 1,
            "not_checked_in": 1,
        }

    async def test_codes_that_are_not_ours_are_refused_without_telling_anything(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, _buyer, booking = await _sold(client, session, auth_headers)
        first, second = booking["tickets"]
        ticket_hex, _, signature = first["code"].partition(".")
        other_signature = second["code"].partition(".")[2]
        door = auth_headers(world.organizer)
        for code in (
            "not-a-ticket",
            f"{ticket_hex}.{other_signature}",  # a real signature, of another ticket
            f"{ticket_hex}.{signature[:-1]}A" if signature[-1] != "A" else f"{ticket_hex}.B",
            f"{'0' * 32}.{signature}",  # a ticket id that does not exist
        ):
            path, body = _scan(world, code)
            refused = await client.post(path, json=body, headers=door)
            assert refused.status_code == 422, code
            assert refused.json()["code"] == "ticket_code_invalid"
        for body in ({}, {"code": ""}, {"code": "x" * 129}):
            refused = await client.post(path, json=body, headers=door)
            assert refused.status_code == 422
        count = await client.get(path, headers=door)
        assert count.json()["checked_in"] == 0

    async def test_a_ticket_for_another_showtime_is_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        elsewhere = await create_world(session, price_minor=0)
        booking = await _free_booking(client, elsewhere, await create_user(session), auth_headers)
        # The organizer of `world` scanning at their own door a ticket of another event.
        path, body = _scan(world, booking["tickets"][0]["code"])
        refused = await client.post(path, json=body, headers=auth_headers(world.organizer))
        assert refused.status_code == 409
        assert refused.json()["code"] == "ticket_wrong_showtime"

    async def test_unpaid_and_cancelled_tickets_are_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=1500)
        buyer = await create_user(session)
        pending = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        assert pending.json()["status"] == "pending_payment"
        # The API shows no code before payment; a leaked one still does not get in.
        code = (
            await session.execute(
                text("SELECT code FROM tickets WHERE booking_id = :id"),
                {"id": pending.json()["id"]},
            )
        ).scalar_one()
        door = auth_headers(world.organizer)
        path, body = _scan(world, code)
        refused = await client.post(path, json=body, headers=door)
        assert (refused.status_code, refused.json()["code"]) == (409, "ticket_not_issued")

        cancelled = await client.post(
            f"/api/bookings/{pending.json()['id']}/cancel", headers=auth_headers(buyer)
        )
        assert cancelled.json()["status"] == "cancelled"
        refused = await client.post(path, json=body, headers=door)
        assert (refused.status_code, refused.json()["code"]) == (409, "ticket_void")

    async def test_only_the_events_staff_may_check_in(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _sold(client, session, auth_headers)
        path, body = _scan(world, booking["tickets"][0]["code"])
        other_organizer = await create_user(session, role=Role.organizer)
        for outsider in (buyer, other_organizer):
            refused = await client.post(path, json=body, headers=auth_headers(outsider))
            assert refused.status_code == 403
            assert refused.json()["code"] == "permission_denied"
            assert (await client.get(path, headers=auth_headers(outsider))).status_code == 403
        assert (await client.post(path, json=body)).status_code == 401
        admin = await create_user(session, role=Role.admin)
        assert (await client.post(path, json=body, headers=auth_headers(admin))).status_code == 201
        missing = await client.post(
            "/api/showtimes/00000000-0000-0000-0000-000000000000/check-ins",
            json=body,
            headers=auth_headers(admin),
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "showtime_not_found")

    async def test_an_admission_can_be_undone_and_made_again(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, _buyer, booking = await _sold(client, session, auth_headers)
        ticket = booking["tickets"][0]
        door = auth_headers(world.organizer)
        path, body = _scan(world, ticket["code"])
        assert (await client.post(path, json=body, headers=door)).status_code == 201

        undone = await client.delete(f"{path}/{ticket['id']}", headers=door)
        assert undone.status_code == 200
        assert (undone.json()["checked_in_at"], undone.json()["checked_in_by"]) == (None, None)
        again = await client.delete(f"{path}/{ticket['id']}", headers=door)
        assert (again.status_code, again.json()["code"]) == (409, "ticket_not_checked_in")
        assert (await client.post(path, json=body, headers=door)).status_code == 201
        unknown = await client.delete(f"{path}/{booking['id']}", headers=door)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "ticket_not_found")

        # Each admission and undo is an outbox event, for the organizer's webhooks.
        events = (
            await session.execute(
                text("SELECT topic, payload FROM outbox_events WHERE aggregate_id = :id"),
                {"id": ticket["id"]},
            )
        ).all()
        # (One test transaction: every row has the same created_at, so no order to check.)
        assert sorted(e.topic for e in events) == [
            "ticket.check_in_undone",
            "ticket.checked_in",
            "ticket.checked_in",
        ]
        admitted = next(e.payload for e in events if e.topic == "ticket.checked_in")
        assert admitted["organizer_id"] == str(world.organizer.id)
        assert admitted["event_id"] == str(world.event.id)
        assert admitted["booking_id"] == booking["id"]
        assert admitted["checked_in_by"] == str(world.organizer.id)
        undone = next(e.payload for e in events if e.topic == "ticket.check_in_undone")
        assert undone["undone_by"] == str(world.organizer.id)


class TestByHand:
    async def test_the_door_list_finds_a_holder_and_admits_them_without_the_code(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        names = ["Ada Lovelace", "Grace Hopper", "Alan 100%_Turing"]
        bookings = {}
        for name in names:
            buyer = await create_user(session, full_name=name)
            bookings[name] = await _free_booking(client, world, buyer, auth_headers)
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"

        everyone = await client.get(f"{path}/tickets", headers=door)
        assert everyone.status_code == 200
        assert everyone.json()["total"] == 6
        assert [t["holder_name"] for t in everyone.json()["items"]] == [
            "Ada Lovelace",
            "Ada Lovelace",
            "Alan 100%_Turing",
            "Alan 100%_Turing",
            "Grace Hopper",
            "Grace Hopper",
        ]
        found = await client.get(f"{path}/tickets", params={"q": "hopp"}, headers=door)
        tickets = found.json()["items"]
        assert {t["booking_id"] for t in tickets} == {bookings["Grace Hopper"]["id"]}
        # A typed % or _ is a character, not a wildcard.
        literal = await client.get(f"{path}/tickets", params={"q": "0%_t"}, headers=door)
        assert {t["holder_name"] for t in literal.json()["items"]} == {"Alan 100%_Turing"}
        none = await client.get(f"{path}/tickets", params={"q": "a%e"}, headers=door)
        assert none.json()["total"] == 0

        admitted = await client.post(
            path, json={"ticket_id": tickets[0]["ticket_id"]}, headers=door
        )
        assert admitted.status_code == 201, admitted.json()
        assert admitted.json()["label"] == tickets[0]["label"]
        again = await client.post(path, json={"ticket_id": tickets[0]["ticket_id"]}, headers=door)
        assert again.json()["code"] == "ticket_already_checked_in"

        inside = await client.get(f"{path}/tickets", params={"checked_in": True}, headers=door)
        assert [t["ticket_id"] for t in inside.json()["items"]] == [tickets[0]["ticket_id"]]
        waiting = await client.get(
            f"{path}/tickets", params={"checked_in": False, "limit": 2}, headers=door
        )
        assert waiting.json()["total"] == 5
        assert len(waiting.json()["items"]) == 2
        assert waiting.json()["next"] is not None
        event = (
            await session.execute(
                text(
                    "SELECT payload FROM outbox_events WHERE aggregate_id = :id "
                    "AND topic = 'ticket.checked_in'"
                ),
                {"id": tickets[0]["ticket_id"]},
            )
        ).scalar_one()
        assert event["by_hand"] is True

    async def test_by_hand_only_this_showtimes_tickets_and_only_one_way(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _sold(client, session, auth_headers)
        elsewhere, _other, other_booking = await _sold(client, session, auth_headers)
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        foreign = await client.post(
            path, json={"ticket_id": other_booking["tickets"][0]["id"]}, headers=door
        )
        assert (foreign.status_code, foreign.json()["code"]) == (404, "ticket_not_found")
        ticket = booking["tickets"][0]
        both = await client.post(
            path, json={"ticket_id": ticket["id"], "code": ticket["code"]}, headers=door
        )
        assert both.status_code == 422
        assert (await client.post(path, json={}, headers=door)).status_code == 422
        for outsider in (buyer, elsewhere.organizer):
            listed = await client.get(f"{path}/tickets", headers=auth_headers(outsider))
            assert listed.status_code == 403


class TestCancelAfterCheckIn:
    async def test_the_buyer_cannot_cancel_once_a_ticket_was_used_but_an_admin_can(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _sold(client, session, auth_headers)
        path, body = _scan(world, booking["tickets"][1]["code"])
        assert (
            await client.post(path, json=body, headers=auth_headers(world.organizer))
        ).status_code == 201
        for cancel in (
            client.post(f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer)),
            client.delete(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer)),
        ):
            refused = await cancel
            assert (refused.status_code, refused.json()["code"]) == (409, "booking_checked_in")
        kept = await client.get(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        assert kept.json()["status"] == "confirmed"
        admin = await create_user(session, role=Role.admin)
        overridden = await client.post(
            f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(admin)
        )
        assert overridden.json()["status"] == "cancelled"


class TestIdempotentScan:
    async def test_a_scanner_retrying_with_its_idempotency_key_gets_the_same_answer(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, (buyer,), _ = await committed_world(committed, 1, price_minor=0)
        booking = await _free_booking(committing_client, world, buyer, auth_headers)
        path, body = _scan(world, booking["tickets"][0]["code"])
        keyed = {**auth_headers(world.organizer), "Idempotency-Key": "gate-3-scan-0001"}
        first = await committing_client.post(path, json=body, headers=keyed)
        retry = await committing_client.post(path, json=body, headers=keyed)
        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json() == first.json()
        unkeyed = await committing_client.post(
            path, json=body, headers=auth_headers(world.organizer)
        )
        assert unkeyed.json()["code"] == "ticket_already_checked_in"


class TestCheckInRaces:
    async def test_twenty_scanners_on_one_code_admit_it_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, (buyer,), _ = await committed_world(committed, 1, price_minor=0)
        booking = await _free_booking(committing_client, world, buyer, auth_headers)
        ticket = booking["tickets"][0]
        path, body = _scan(world, ticket["code"])
        door = auth_headers(world.organizer)
        results = await asyncio.gather(
            *(committing_client.post(path, json=body, headers=door) for _ in range(20))
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] + [409] * 19
        assert {r.json()["code"] for r in results if r.status_code == 409} == {
            "ticket_already_checked_in"
        }
        winner = next(r.json() for r in results if r.status_code == 201)
        async with committed() as session:
            row = (
                await session.execute(
                    text("SELECT checked_in_at, checked_in_by FROM tickets WHERE id = :id"),
                    {"id": ticket["id"]},
                )
            ).one()
        assert str(row.checked_in_by) == str(world.organizer.id)
        assert row.checked_in_at.isoformat() == winner["checked_in_at"].replace("Z", "+00:00")

    async def test_check_in_racing_the_buyers_cancel_leaves_one_outcome(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyers, _ = await committed_world(
            committed, 10, price_minor=0, rows=2, seats_per_row=10
        )
        bookings = [
            await _free_booking(committing_client, world, buyer, auth_headers) for buyer in buyers
        ]
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        results = await asyncio.gather(
            *(
                call
                for buyer, booking in zip(buyers, bookings, strict=True)
                for call in (
                    committing_client.post(
                        path, json={"code": booking["tickets"][0]["code"]}, headers=door
                    ),
                    committing_client.post(
                        f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer)
                    ),
                )
            )
        )
        for index, booking in enumerate(bookings):
            scan, cancel = results[2 * index], results[2 * index + 1]
            async with committed() as session:
                rows = (
                    await session.execute(
                        text(
                            "SELECT b.status, t.status, t.checked_in_at IS NOT NULL, u.state "
                            "FROM bookings b JOIN tickets t ON t.booking_id = b.id "
                            "JOIN inventory_units u ON u.id = t.unit_id WHERE b.id = :id"
                        ),
                        {"id": booking["id"]},
                    )
                ).all()
            if scan.status_code == 201:
                assert (cancel.status_code, cancel.json()["code"]) == (409, "booking_checked_in")
                assert {r[0] for r in rows} == {"confirmed"}
                assert sorted(r[2] for r in rows) == [False, True]
                assert {(r[1], r[3]) for r in rows} == {("issued", "sold")}
            else:
                assert cancel.status_code == 200, cancel.json()
                assert (scan.status_code, scan.json()["code"]) == (409, "ticket_void")
                assert {(r[0], r[1], r[2], r[3]) for r in rows} == {
                    ("cancelled", "void", False, "available")
                }
