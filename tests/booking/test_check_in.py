"""Check-in at the door: a ticket's signed code admits it once, for its own showtime."""

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.booking.tickets import ticket_code
from boxoffice.config import Settings
from tests.booking.factories import (
    World,
    behind_a_locked_ticket,
    committed_sales,
    committed_world,
    create_world,
    free_booking,
    in_pairs,
    ticket_states,
)
from tests.factories import configure, create_user

Headers = Callable[[User], dict[str, str]]


async def _sold(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers
) -> tuple[World, User, dict[str, Any]]:
    """A free showtime and a buyer's confirmed booking of two seats on it."""
    world = await create_world(session, price_minor=0)
    buyer = await create_user(session)
    return world, buyer, await free_booking(client, world, buyer, auth_headers)


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
        booking = await free_booking(client, elsewhere, await create_user(session), auth_headers)
        # The organizer of `world` scanning at their own door a ticket of another event.
        path, body = _scan(world, booking["tickets"][0]["code"])
        refused = await client.post(path, json=body, headers=auth_headers(world.organizer))
        assert refused.status_code == 409
        assert refused.json()["code"] == "ticket_wrong_showtime"

    async def test_unpaid_and_cancelled_tickets_are_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, settings: Settings
    ) -> None:
        world = await create_world(session, price_minor=1500)
        buyer = await create_user(session)
        pending = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        assert pending.json()["status"] == "pending_payment"
        # The API shows no code before payment; one signed with the key anyway (leaked, say)
        # still does not get in.
        ticket = (
            await session.execute(
                text("SELECT id, unit_id FROM tickets WHERE booking_id = :id"),
                {"id": pending.json()["id"]},
            )
        ).one()
        code = ticket_code(settings, ticket.id, ticket.unit_id)
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
            bookings[name] = await free_booking(client, world, buyer, auth_headers)
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
        # The reference read out from an e-mail, in upper case as it is printed.
        ada = bookings["Ada Lovelace"]
        by_reference = await client.get(
            f"{path}/tickets", params={"q": ada["reference"]}, headers=door
        )
        assert {t["booking_id"] for t in by_reference.json()["items"]} == {ada["id"]}

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
        booking = await free_booking(committing_client, world, buyer, auth_headers)
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

    async def test_a_sync_resent_with_its_idempotency_key_gets_the_same_report(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, (buyer,), _ = await committed_world(committed, 1, price_minor=0)
        booking = await free_booking(committing_client, world, buyer, auth_headers)
        path = f"/api/showtimes/{world.showtime.id}/check-ins/sync"
        body = {
            "scans": [
                {"code": t["code"], "scanned_at": "2026-01-02T18:00:00Z"}
                for t in booking["tickets"]
            ]
        }
        keyed = {**auth_headers(world.organizer), "Idempotency-Key": "scanner-7-batch-12"}
        first = await committing_client.post(path, json=body, headers=keyed)
        retry = await committing_client.post(path, json=body, headers=keyed)
        assert (first.status_code, retry.status_code) == (200, 200)
        assert first.json()["admitted"] == 2
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json() == first.json()
        other = await committing_client.post(path, json={"scans": body["scans"][:1]}, headers=keyed)
        assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


class TestCheckInRaces:
    async def test_twenty_scanners_on_one_code_admit_it_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, (buyer,), _ = await committed_world(committed, 1, price_minor=0)
        booking = await free_booking(committing_client, world, buyer, auth_headers)
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
        sold = await committed_sales(
            committed, committing_client, auth_headers, 10, quantity=2, rows=2, seats_per_row=10
        )
        door = auth_headers(sold.world.organizer)
        path = f"/api/showtimes/{sold.world.showtime.id}/check-ins"
        results = await in_pairs(
            *(
                (
                    committing_client.post(
                        path, json={"code": booking["tickets"][0]["code"]}, headers=door
                    ),
                    committing_client.post(
                        f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer)
                    ),
                )
                for buyer, booking in zip(sold.buyers, sold.bookings, strict=True)
            )
        )
        for (scan, cancel), booking in zip(results, sold.bookings, strict=True):
            rows = await ticket_states(committed, booking["id"])
            if scan.status_code == 201:
                assert (cancel.status_code, cancel.json()["code"]) == (409, "booking_checked_in")
                assert {r.status for r in rows} == {"confirmed"}
                assert sorted(r.checked_in_at is not None for r in rows) == [False, True]
                assert {(r.ticket_status, r.state) for r in rows} == {("issued", "sold")}
            else:
                assert cancel.status_code == 200, cancel.json()
                assert (scan.status_code, scan.json()["code"]) == (409, "ticket_void")
                assert {
                    (r.status, r.ticket_status, r.checked_in_at is not None, r.state) for r in rows
                } == {("cancelled", "void", False, "available")}


def _sha256(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class TestOfflineScanners:
    async def test_offline_scans_sync_each_admitted_once_at_the_time_it_was_scanned(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, _buyer, booking = await _sold(client, session, auth_headers)
        first, second = booking["tickets"]
        third = (await free_booking(client, world, await create_user(session), auth_headers))[
            "tickets"
        ][0]
        elsewhere, _other, foreign = await _sold(client, session, auth_headers)
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        # Online, before the scanner lost the network: the first ticket got in.
        online = await client.post(path, json={"code": first["code"]}, headers=door)
        assert online.status_code == 201
        early = datetime(2026, 1, 2, 18, 0, tzinfo=UTC)
        scans = [
            {"code": second["code"], "scanned_at": early.isoformat()},
            {"code": first["code"], "scanned_at": (early + timedelta(minutes=1)).isoformat()},
            {"code": "not-a-ticket", "scanned_at": early.isoformat()},
            {"code": second["code"], "scanned_at": (early + timedelta(minutes=2)).isoformat()},
            {"code": foreign["tickets"][0]["code"], "scanned_at": early.isoformat()},
            {"ticket_id": third["id"], "scanned_at": "2999-01-01T00:00:00Z"},
        ]
        synced = await client.post(f"{path}/sync", json={"scans": scans}, headers=door)
        assert synced.status_code == 200, synced.json()
        out = synced.json()
        assert (out["admitted"], out["refused"]) == (2, 4)
        results = out["results"]
        assert [r["index"] for r in results] == list(range(6))
        assert [(r["admitted"], r["code"]) for r in results] == [
            (True, None),
            (False, "ticket_already_checked_in"),
            (False, "ticket_code_invalid"),
            (False, "ticket_already_checked_in"),
            (False, "ticket_wrong_showtime"),
            (True, None),
        ]
        # Admitted at the scan's time; a duplicate is told when the ticket got in.
        assert results[0]["ticket"]["checked_in_at"] == early.isoformat().replace("+00:00", "Z")
        assert results[1]["ticket"]["checked_in_at"] == online.json()["checked_in_at"]
        assert results[3]["ticket"]["checked_in_at"] == results[0]["ticket"]["checked_in_at"]
        assert results[2]["ticket"] is None
        assert results[4]["ticket"] is None
        rows: dict[str, datetime] = dict(
            (
                await session.execute(
                    text(
                        "SELECT id::text, checked_in_at FROM tickets WHERE id = ANY(:ids) "
                        "AND checked_in_at IS NOT NULL"
                    ),
                    {"ids": [first["id"], second["id"], third["id"]]},
                )
            ).all()
        )
        assert rows[second["id"]] == early
        # A scanner's clock ahead of the server's is not believed.
        assert rows[third["id"]] <= (
            await session.execute(text("SELECT now()"))
        ).scalar_one() + timedelta(seconds=1)
        count = await client.get(path, headers=door)
        assert count.json()["checked_in"] == 3

        # The scanner lost the answer and sends the same scans again, without its key:
        # nothing is admitted twice, and the ticket shows the admission was its own.
        again = await client.post(f"{path}/sync", json={"scans": scans[:1]}, headers=door)
        (result,) = again.json()["results"]
        assert (result["admitted"], result["code"]) == (False, "ticket_already_checked_in")
        assert result["ticket"]["checked_in_by"] == str(world.organizer.id)
        assert result["ticket"]["checked_in_at"] == results[0]["ticket"]["checked_in_at"]
        assert (await client.get(path, headers=door)).json()["checked_in"] == 3
        assert elsewhere.showtime.id != world.showtime.id

    async def test_a_sync_must_be_well_formed_and_from_the_events_staff(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _sold(client, session, auth_headers)
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins/sync"
        code = booking["tickets"][0]["code"]
        at = "2026-01-02T18:00:00Z"
        bodies: list[dict[str, Any]] = [
            {"scans": []},
            {"scans": [{"code": code, "scanned_at": at}] * 501},
            {"scans": [{"code": code}]},
            {"scans": [{"code": code, "scanned_at": "2026-01-02T18:00:00"}]},  # no zone
            {"scans": [{"code": code, "ticket_id": booking["tickets"][0]["id"], "scanned_at": at}]},
            {"scans": [{"scanned_at": at}]},
        ]
        for body in bodies:
            refused = await client.post(path, json=body, headers=door)
            assert refused.status_code == 422, body
            assert refused.json()["code"] == "validation_error"
        outsider = await client.post(
            path, json={"scans": [{"code": code, "scanned_at": at}]}, headers=auth_headers(buyer)
        )
        assert (outsider.status_code, outsider.json()["code"]) == (403, "permission_denied")
        count = await client.get(f"/api/showtimes/{world.showtime.id}/check-ins", headers=door)
        assert count.json()["checked_in"] == 0

    async def test_the_manifest_lets_a_scanner_check_codes_without_the_server(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session)
        kept = await free_booking(client, world, buyer, auth_headers, quantity=3)
        dropped = await free_booking(client, world, buyer, auth_headers, quantity=1)
        cancelled = await client.post(
            f"/api/bookings/{dropped['id']}/cancel", headers=auth_headers(buyer)
        )
        assert cancelled.json()["status"] == "cancelled"
        _elsewhere, _other, foreign = await _sold(client, session, auth_headers)
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        assert (
            await client.post(path, json={"code": kept["tickets"][0]["code"]}, headers=door)
        ).status_code == 201

        whole = await client.get(f"{path}/manifest", headers=door)
        assert whole.status_code == 200, whole.json()
        body = whole.json()
        assert body["next_after"] is None
        assert body["next"] is None
        assert body["as_of"] is not None
        by_hash = {t["code_sha256"]: t for t in body["items"]}
        assert len(by_hash) == 4
        assert [t["ticket_id"] for t in body["items"]] == sorted(
            t["ticket_id"] for t in body["items"]
        )
        for ticket in kept["tickets"]:
            entry = by_hash[_sha256(ticket["code"])]
            assert (entry["ticket_id"], entry["status"]) == (ticket["id"], "issued")
            assert entry["label"] == ticket["label"]
        assert by_hash[_sha256(kept["tickets"][0]["code"])]["checked_in_at"] is not None
        assert by_hash[_sha256(dropped["tickets"][0]["code"])]["status"] == "void"
        assert _sha256(foreign["tickets"][0]["code"]) not in by_hash
        assert "code" not in body["items"][0]

        # Page by page, each page's next_after leads to the next, and nothing is missed.
        seen: list[str] = []
        url: str | None = f"{path}/manifest?limit=1"
        while url is not None:
            page = (await client.get(url, headers=door)).json()
            seen += [t["ticket_id"] for t in page["items"]]
            url = page["next"]
            assert len(seen) <= 5
        assert seen == [t["ticket_id"] for t in body["items"]]
        for params in ({"limit": 0}, {"limit": 1001}, {"after": "nope"}):
            assert (
                await client.get(f"{path}/manifest", params=params, headers=door)
            ).status_code == 422
        outsider = await client.get(f"{path}/manifest", headers=auth_headers(buyer))
        assert outsider.status_code == 403


class TestSyncRaces:
    async def test_two_syncs_naming_tickets_in_opposite_orders_do_not_deadlock(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        sold = await committed_sales(
            committed, committing_client, auth_headers, 10, rows=1, seats_per_row=10
        )
        world = sold.world
        tickets = sorted((b["tickets"][0] for b in sold.bookings), key=lambda t: t["code"])
        at = datetime.now(UTC).isoformat()
        ascending = [{"code": t["code"], "scanned_at": at} for t in tickets]
        path = f"/api/showtimes/{world.showtime.id}/check-ins/sync"
        door = auth_headers(world.organizer)
        # The middle ticket is locked while one sync admits the tickets below it and the
        # other those above it, if each went in its request's order; then each would need
        # what the other holds. Applied in ticket order, both start at the bottom.
        middle = tickets[len(tickets) // 2]["id"]
        first, second = await behind_a_locked_ticket(
            committed,
            middle,
            committing_client.post(path, json={"scans": ascending}, headers=door),
            committing_client.post(path, json={"scans": ascending[::-1]}, headers=door),
        )
        assert (first.status_code, second.status_code) == (200, 200), (
            first.json(),
            second.json(),
        )
        assert first.json()["admitted"] + second.json()["admitted"] == 10

    async def test_syncs_and_live_scans_racing_admit_each_ticket_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        sold = await committed_sales(
            committed, committing_client, auth_headers, 20, rows=2, seats_per_row=10
        )
        world = sold.world
        codes = [b["tickets"][0]["code"] for b in sold.bookings]
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        at = datetime.now(UTC) - timedelta(minutes=5)
        # Two scanners that were offline name the same tickets in opposite orders.
        forward = [{"code": c, "scanned_at": at.isoformat()} for c in codes]
        results = await asyncio.gather(
            committing_client.post(f"{path}/sync", json={"scans": forward}, headers=door),
            committing_client.post(f"{path}/sync", json={"scans": forward[::-1]}, headers=door),
            *(committing_client.post(path, json={"code": c}, headers=door) for c in codes),
        )
        syncs, live = results[:2], results[2:]
        assert [s.status_code for s in syncs] == [200, 200], [s.json() for s in syncs]
        assert {r.status_code for r in live} <= {201, 409}
        admissions = dict.fromkeys(codes, 0)
        for code, response in zip(codes, live, strict=True):
            admissions[code] += response.status_code == 201
        for sync, order in ((syncs[0], codes), (syncs[1], codes[::-1])):
            for code, result in zip(order, sync.json()["results"], strict=True):
                admissions[code] += result["admitted"]
                if not result["admitted"]:
                    assert result["code"] == "ticket_already_checked_in"
        assert set(admissions.values()) == {1}
        async with committed() as session:
            admitted = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id "
                        "WHERE b.showtime_id = :id AND t.checked_in_at IS NOT NULL"
                    ),
                    {"id": world.showtime.id},
                )
            ).scalar_one()
        assert admitted == 20


class TestSecretRotation:
    async def test_codes_sent_before_a_rotation_still_get_in_while_new_ones_are_shown(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        world, buyer, booking = await _sold(client, session, auth_headers)
        sent = [t["code"] for t in booking["tickets"]]
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        # The ticket secret was derived from the JWT secret; now it has its own, and the
        # old one is kept as previous.
        configure(
            app,
            settings,
            "booking",
            ticket_secret=SecretStr("a-new-ticket-secret-0123456789-abcdef"),
            ticket_secrets_previous=[settings.auth.jwt_secret],
        )

        shown = await client.get(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        now = [t["code"] for t in shown.json()["tickets"]]
        assert all(now)
        assert set(now).isdisjoint(sent)
        manifest = (await client.get(f"{path}/manifest", headers=door)).json()["items"]
        by_id = {t["ticket_id"]: t for t in manifest}
        for ticket, old, new in zip(booking["tickets"], sent, now, strict=True):
            assert by_id[ticket["id"]]["code_sha256"] == _sha256(new)
            assert by_id[ticket["id"]]["earlier_code_sha256"] == [_sha256(old)]

        first = await client.post(path, json={"code": sent[0]}, headers=door)
        assert first.status_code == 201, first.json()
        assert first.json()["ticket_id"] == booking["tickets"][0]["id"]
        again = await client.post(path, json={"code": now[0]}, headers=door)
        assert (again.status_code, again.json()["code"]) == (409, "ticket_already_checked_in")

        # Without the old secret kept, what was sent before the rotation no longer scans.
        configure(
            app,
            settings,
            "booking",
            ticket_secret=SecretStr("a-new-ticket-secret-0123456789-abcdef"),
        )
        refused = await client.post(path, json={"code": sent[1]}, headers=door)
        assert (refused.status_code, refused.json()["code"]) == (422, "ticket_code_invalid")
        manifest = (await client.get(f"{path}/manifest", headers=door)).json()["items"]
        assert all(t["earlier_code_sha256"] == [] for t in manifest)
        admitted = await client.post(path, json={"code": now[1]}, headers=door)
        assert admitted.status_code == 201, admitted.json()
