"""Ticket transfer: the holder passes a ticket on; the receiver's new code gets in, the
giver's does not; the booking, its money and its limit stay with the buyer."""

import asyncio
import hashlib
import io
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zxingcpp
from fastapi import FastAPI
from httpx import AsyncClient
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth import account_tokens
from boxoffice.auth.models import Role, User
from boxoffice.booking import transfer
from boxoffice.booking.models import TicketTransferOffer, TransferOfferStatus
from boxoffice.booking.tickets import verify_ticket_code
from boxoffice.config import Settings
from boxoffice.kit.jobs import HANDLERS as HANDLERS_OF_JOBS
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.kit.time import for_people
from boxoffice.notification.handlers import HANDLERS
from boxoffice.notification.models import NotificationKind
from boxoffice.notification.templates import render
from tests.auth.conftest import queued
from tests.booking.factories import (
    World,
    behind_a_locked_ticket,
    committed_sales,
    committed_world,
    create_world,
    free_booking,
    in_pairs,
    pending_booking,
    ticket_states,
)
from tests.factories import configure, create_user
from tests.notification.conftest import RecordingEmailSender

Headers = Callable[[User], dict[str, str]]


async def _give(
    client: AsyncClient, giver: User, ticket_id: str, to: User | str, auth_headers: Headers
) -> Any:
    return await client.post(
        f"/api/tickets/{ticket_id}/transfer",
        json={"to_email": to if isinstance(to, str) else to.email},
        headers=auth_headers(giver),
    )


async def _mine(client: AsyncClient, user: User, auth_headers: Headers) -> list[dict[str, Any]]:
    response = await client.get("/api/users/me/tickets", headers=auth_headers(user))
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestTransfer:
    async def test_a_ticket_passes_to_another_account_and_only_its_new_code_gets_in(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session, full_name="Bea Buyer")
        friend = await create_user(session, full_name="Fred Friend")
        booking = await free_booking(client, world, buyer, auth_headers)
        given, kept = booking["tickets"]

        # E-mail addresses match whatever their case.
        moved = await _give(client, buyer, given["id"], friend.email.upper(), auth_headers)
        assert moved.status_code == 200, moved.json()
        assert moved.json()["from_user_id"] == str(buyer.id)
        assert moved.json()["to_user_id"] == str(friend.id)
        assert "code" not in moved.json()

        # The buyer's booking still lists it, without its code now.
        seen = await client.get(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        by_id = {t["id"]: t for t in seen.json()["tickets"]}
        assert (by_id[given["id"]]["code"], by_id[given["id"]]["holder_id"]) == (
            None,
            str(friend.id),
        )
        assert by_id[kept["id"]]["code"] == kept["code"]
        assert seen.json()["status"] == "confirmed"

        (received,) = await _mine(client, friend, auth_headers)
        assert received["id"] == given["id"]
        assert received["booking_id"] == booking["id"]
        assert received["code"] != given["code"]
        assert verify_ticket_code(settings, received["code"], given["unit_id"], 1) is not None
        assert [t["id"] for t in await _mine(client, buyer, auth_headers)] == [kept["id"]]

        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        old = await client.post(path, json={"code": given["code"]}, headers=door)
        assert (old.status_code, old.json()["code"]) == (409, "ticket_code_superseded")
        new = await client.post(path, json={"code": received["code"]}, headers=door)
        assert new.status_code == 201, new.json()
        listed = await client.get(f"{path}/tickets", headers=door)
        names = {t["ticket_id"]: t["holder_name"] for t in listed.json()["items"]}
        assert names == {given["id"]: "Fred Friend", kept["id"]: "Bea Buyer"}
        manifest = (await client.get(f"{path}/manifest", headers=door)).json()
        hashes = {t["code_sha256"] for t in manifest["items"]}
        assert hashlib.sha256(received["code"].encode()).hexdigest() in hashes
        assert hashlib.sha256(given["code"].encode()).hexdigest() not in hashes

        # The receiver is told, and the organizer's webhooks see it.
        event = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == Topic.ticket_transferred.value)
            )
        ).one()
        assert event.payload["organizer_id"] == str(world.organizer.id)
        (intent,) = await HANDLERS[Topic.ticket_transferred](session, event)
        assert (intent.user_id, intent.kind) == (friend.id, NotificationKind.ticket_received)
        message = render(intent.kind, intent.data)
        assert world.event.title in message.title
        assert "Bea Buyer passed you a ticket" in message.text
        # Nothing of the buyer's booking reaches the receiver.
        assert not {"booking_id", "amount_minor", "booking_reference"} & set(intent.data)

    async def test_only_the_holder_may_give_and_only_a_live_unused_ticket(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer, friend, stranger = [await create_user(session) for _ in range(3)]
        booking = await free_booking(client, world, buyer, auth_headers)
        ticket, other = booking["tickets"]

        refused = await _give(client, stranger, ticket["id"], friend, auth_headers)
        assert (refused.status_code, refused.json()["code"]) == (404, "ticket_not_found")
        itself = await _give(client, buyer, ticket["id"], buyer, auth_headers)
        assert (itself.status_code, itself.json()["code"]) == (422, "transfer_to_self")
        for junk in ({"to_email": "not-an-address"}, {}, {"to_email": friend.email, "x": 1}):
            bad = await client.post(
                f"/api/tickets/{ticket['id']}/transfer", json=junk, headers=auth_headers(buyer)
            )
            assert bad.status_code == 422

        assert (await _give(client, buyer, ticket["id"], friend, auth_headers)).status_code == 200
        # Once given, it is the friend's to give: back to the buyer, as bought again.
        gone = await _give(client, buyer, ticket["id"], stranger, auth_headers)
        assert gone.json()["code"] == "ticket_not_found"
        back = await _give(client, friend, ticket["id"], buyer, auth_headers)
        assert back.status_code == 200
        mine = {t["id"]: t for t in await _mine(client, buyer, auth_headers)}
        assert mine[ticket["id"]]["holder_id"] is None
        assert mine[ticket["id"]]["code"] not in (ticket["code"], None)

        door = auth_headers(world.organizer)
        scanned = await client.post(
            f"/api/showtimes/{world.showtime.id}/check-ins",
            json={"code": other["code"]},
            headers=door,
        )
        assert scanned.status_code == 201
        used = await _give(client, buyer, other["id"], friend, auth_headers)
        assert (used.status_code, used.json()["code"]) == (409, "ticket_already_checked_in")

        # The organizer may turn transfers off, and none are made once the show starts.
        turned_off = await client.put(
            f"/api/events/{world.event.id}",
            json={"allow_ticket_transfers": False},
            headers=auth_headers(world.organizer),
        )
        assert turned_off.json()["allow_ticket_transfers"] is False
        off = await _give(client, buyer, ticket["id"], friend, auth_headers)
        assert (off.status_code, off.json()["code"]) == (409, "ticket_transfers_not_allowed")
        await client.put(
            f"/api/events/{world.event.id}",
            json={"allow_ticket_transfers": True},
            headers=auth_headers(world.organizer),
        )
        await session.execute(
            text(
                "UPDATE showtimes SET starts_at = now() - interval '1 minute', "
                "ends_at = now() + interval '2 hours' WHERE id = :id"
            ),
            {"id": world.showtime.id},
        )
        late = await _give(client, buyer, ticket["id"], friend, auth_headers)
        assert (late.status_code, late.json()["code"]) == (409, "ticket_transfer_closed")

    async def test_an_unpaid_ticket_cannot_be_given(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=1500)
        buyer, friend = await create_user(session), await create_user(session)
        pending = await pending_booking(client, world, buyer, auth_headers)
        ticket_id = pending["tickets"][0]["id"]
        refused = await _give(client, buyer, ticket_id, friend, auth_headers)
        assert (refused.status_code, refused.json()["code"]) == (409, "ticket_not_issued")

    async def test_the_buyer_cannot_cancel_after_giving_a_ticket_away(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer, friend = await create_user(session), await create_user(session)
        booking = await free_booking(client, world, buyer, auth_headers)
        given = booking["tickets"][0]["id"]
        assert (await _give(client, buyer, given, friend, auth_headers)).status_code == 200
        refused = await client.post(
            f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer)
        )
        assert (refused.status_code, refused.json()["code"]) == (409, "booking_tickets_transferred")
        admin = await create_user(session, role=Role.admin)
        overridden = await client.post(
            f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(admin)
        )
        assert overridden.json()["status"] == "cancelled"
        assert await _mine(client, friend, auth_headers) == []
        # Whom it was given to is told it is gone.
        voided = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == Topic.ticket_voided.value)
            )
        ).one()
        (intent,) = await HANDLERS[Topic.ticket_voided](session, voided)
        assert (intent.user_id, intent.kind) == (friend.id, NotificationKind.ticket_voided)
        assert intent.data["reason"] == "booking_cancelled"


async def _issued_tickets(
    committed: async_sessionmaker[AsyncSession],
    client: AsyncClient,
    auth_headers: Headers,
    *,
    bookings: int,
) -> tuple[World, User, User, list[dict[str, Any]]]:
    """A committed free showtime; a buyer's `bookings` bookings of two issued tickets each,
    and another account."""
    world, (buyer, other), _ = await committed_world(
        committed, 2, price_minor=0, rows=2, seats_per_row=10
    )
    tickets = [
        t
        for _ in range(bookings)
        for t in (await free_booking(client, world, buyer, auth_headers))["tickets"]
    ]
    return world, buyer, other, tickets


class TestTransferRaces:
    async def test_ten_transfers_of_one_ticket_give_it_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, users, _ = await committed_world(committed, 11, price_minor=0)
        buyer, friends = users[0], users[1:]
        ticket = (await free_booking(committing_client, world, buyer, auth_headers))["tickets"][0]
        # The ticket row is locked while all ten read it as the buyer's and reach their
        # UPDATE; then they go through one after another, each seeing the last one's change.
        results = await behind_a_locked_ticket(
            committed,
            ticket["id"],
            *(_give(committing_client, buyer, ticket["id"], f, auth_headers) for f in friends),
        )
        assert sorted(r.status_code for r in results) == [200] + [404] * 9
        winner = next(r.json() for r in results if r.status_code == 200)
        async with committed() as session:
            row = (
                await session.execute(
                    text("SELECT holder_id, code_version FROM tickets WHERE id = :id"),
                    {"id": ticket["id"]},
                )
            ).one()
        assert (str(row.holder_id), row.code_version) == (winner["to_user_id"], 1)

    async def test_a_transfer_racing_a_scan_of_the_old_code_lets_one_through(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        world, buyer, friend, tickets = await _issued_tickets(
            committed, committing_client, auth_headers, bookings=5
        )
        door = auth_headers(world.organizer)
        path = f"/api/showtimes/{world.showtime.id}/check-ins"
        results = await in_pairs(
            *(
                (
                    committing_client.post(path, json={"code": t["code"]}, headers=door),
                    _give(committing_client, buyer, t["id"], friend, auth_headers),
                )
                for t in tickets
            )
        )
        async with committed() as session:
            rows = {
                str(r.id): r
                for r in (
                    await session.execute(
                        text(
                            "SELECT id, checked_in_at, holder_id, code_version FROM tickets "
                            "WHERE id = ANY(:ids)"
                        ),
                        {"ids": [t["id"] for t in tickets]},
                    )
                ).all()
            }
        for (scan, give), t in zip(results, tickets, strict=True):
            row = rows[t["id"]]
            if scan.status_code == 201:
                assert (give.status_code, give.json()["code"]) == (409, "ticket_already_checked_in")
                assert (row.holder_id, row.code_version) == (None, 0)
                assert row.checked_in_at is not None
            else:
                assert give.status_code == 200, give.json()
                assert (scan.status_code, scan.json()["code"]) == (409, "ticket_code_superseded")
                assert (str(row.holder_id), row.code_version) == (str(friend.id), 1)
                assert row.checked_in_at is None

    async def test_a_transfer_racing_the_buyers_cancel_leaves_one_outcome(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        sold = await committed_sales(
            committed, committing_client, auth_headers, 10, others=1, rows=2, seats_per_row=10
        )
        (friend,) = sold.others
        results = await in_pairs(
            *(
                (
                    _give(committing_client, b, booking["tickets"][0]["id"], friend, auth_headers),
                    committing_client.post(
                        f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(b)
                    ),
                )
                for b, booking in zip(sold.buyers, sold.bookings, strict=True)
            )
        )
        for (give, cancel), booking in zip(results, sold.bookings, strict=True):
            (row,) = await ticket_states(committed, booking["id"])
            if give.status_code == 200:
                assert (cancel.status_code, cancel.json()["code"]) == (
                    409,
                    "booking_tickets_transferred",
                )
                assert (row.status, row.ticket_status, row.state) == ("confirmed", "issued", "sold")
                assert str(row.holder_id) == str(friend.id)
            else:
                assert cancel.status_code == 200, cancel.json()
                assert (give.status_code, give.json()["code"]) == (409, "ticket_void")
                assert (row.status, row.ticket_status, row.holder_id, row.state) == (
                    "cancelled",
                    "void",
                    None,
                    "available",
                )


def _decoded(png: bytes) -> list[str]:
    """What a scanner reads off the image."""
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


class TestTicketQr:
    async def test_the_holder_gets_a_qr_code_of_the_current_code_that_the_door_admits(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer, friend = await create_user(session), await create_user(session)
        booking = await free_booking(client, world, buyer, auth_headers)
        ticket = booking["tickets"][0]
        path = f"/api/tickets/{ticket['id']}/qr"

        png = await client.get(path, params={"format": "png"}, headers=auth_headers(buyer))
        assert png.status_code == 200
        assert png.headers["content-type"] == "image/png"
        assert png.headers["cache-control"] == "no-store"
        assert _decoded(png.content) == [ticket["code"]]
        svg = await client.get(path, headers=auth_headers(buyer))
        assert svg.headers["content-type"] == "image/svg+xml"
        assert svg.content.startswith(b"<?xml")
        assert b'<svg xmlns="http://www.w3.org/2000/svg"' in svg.content
        bigger = await client.get(
            path, params={"format": "png", "scale": 16}, headers=auth_headers(buyer)
        )
        width = Image.open(io.BytesIO(bigger.content)).width
        assert width == 2 * Image.open(io.BytesIO(png.content)).width
        assert _decoded(bigger.content) == [ticket["code"]]

        # Given away: the giver's image is gone, the receiver's carries the new code.
        assert (await _give(client, buyer, ticket["id"], friend, auth_headers)).status_code == 200
        gone = await client.get(path, headers=auth_headers(buyer))
        assert (gone.status_code, gone.json()["code"]) == (404, "ticket_not_found")
        theirs = await client.get(path, params={"format": "png"}, headers=auth_headers(friend))
        (read,) = _decoded(theirs.content)
        assert read != ticket["code"]
        assert read == (await _mine(client, friend, auth_headers))[0]["code"]
        door = await client.post(
            f"/api/showtimes/{world.showtime.id}/check-ins",
            json={"code": read},
            headers=auth_headers(world.organizer),
        )
        assert door.status_code == 201, door.json()

    async def test_no_image_for_others_unpaid_or_void_tickets_nor_for_bad_parameters(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=1500)
        buyer, stranger = await create_user(session), await create_user(session)
        pending = await pending_booking(client, world, buyer, auth_headers)
        path = f"/api/tickets/{pending['tickets'][0]['id']}/qr"

        unpaid = await client.get(path, headers=auth_headers(buyer))
        assert (unpaid.status_code, unpaid.json()["code"]) == (409, "ticket_not_issued")
        others = await client.get(path, headers=auth_headers(stranger))
        assert (others.status_code, others.json()["code"]) == (404, "ticket_not_found")
        assert (await client.get(path)).status_code == 401
        for params in ({"format": "gif"}, {"scale": 0}, {"scale": 41}):
            bad = await client.get(path, params=params, headers=auth_headers(buyer))
            assert (bad.status_code, bad.json()["code"]) == (422, "validation_error"), params

        cancelled = await client.post(
            f"/api/bookings/{pending['id']}/cancel", headers=auth_headers(buyer)
        )
        assert cancelled.json()["status"] == "cancelled"
        void = await client.get(path, headers=auth_headers(buyer))
        assert (void.status_code, void.json()["code"]) == (409, "ticket_void")


_OFFER_TOKEN = re.compile(r"\b[0-9a-f]{32}\.[A-Za-z0-9_-]{43}\b")


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> RecordingEmailSender:
    sender = RecordingEmailSender()
    monkeypatch.setattr(account_tokens, "mail_sender", lambda: sender)
    return sender


async def _mailed_offer(session: AsyncSession, mailbox: RecordingEmailSender, email: str) -> str:
    """Run the last queued offer e-mail job as the worker would; the token it mailed."""
    await HANDLERS_OF_JOBS[transfer.SEND_OFFER](
        session, (await queued(session, transfer.SEND_OFFER))[-1]
    )
    [message] = mailbox.to(email)[-1:]
    found = _OFFER_TOKEN.search(message.text)
    assert found is not None, message.text
    return found.group(0)


async def _claim(client: AsyncClient, user: User, token: str, auth_headers: Headers) -> Any:
    return await client.post(
        "/api/tickets/transfer-offers/claim", json={"token": token}, headers=auth_headers(user)
    )


class TestTransferOffers:
    async def test_a_ticket_given_to_an_address_without_an_account_is_claimed_with_the_mailed_token(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        mailbox: RecordingEmailSender,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session, full_name="Bea Buyer")
        booking = await free_booking(client, world, buyer, auth_headers)
        given, kept = booking["tickets"]
        address = f"newcomer-{uuid.uuid4().hex[:8]}@example.com"

        offered = await _give(client, buyer, given["id"], address.upper(), auth_headers)
        assert offered.status_code == 200, offered.json()
        body = offered.json()
        assert (body["status"], body["to_user_id"], body["to_email"]) == ("offered", None, address)
        assert datetime.fromisoformat(body["offer_expires_at"]) == world.showtime.starts_at
        # Until it is claimed the ticket stays the buyer's, its code unchanged, marked offered.
        mine = {t["id"]: t for t in await _mine(client, buyer, auth_headers)}
        assert (mine[given["id"]]["code"], mine[given["id"]]["offered_to"]) == (
            given["code"],
            address,
        )
        assert mine[kept["id"]]["offered_to"] is None

        token = await _mailed_offer(session, mailbox, address)
        [message] = mailbox.to(address)
        assert message.subject == f"Bea Buyer passed you a ticket for {world.event.title}"
        assert given["label"] in message.text

        newcomer = await create_user(session, email=address)
        claimed = await _claim(client, newcomer, token, auth_headers)
        assert claimed.status_code == 200, claimed.json()
        assert (claimed.json()["status"], claimed.json()["to_user_id"]) == (
            "transferred",
            str(newcomer.id),
        )
        assert claimed.json()["offer_id"] == body["offer_id"] is not None
        (received,) = await _mine(client, newcomer, auth_headers)
        assert received["id"] == given["id"]
        assert verify_ticket_code(settings, received["code"], given["unit_id"], 1) is not None
        assert [t["id"] for t in await _mine(client, buyer, auth_headers)] == [kept["id"]]
        door = await client.post(
            f"/api/showtimes/{world.showtime.id}/check-ins",
            json={"code": given["code"]},
            headers=auth_headers(world.organizer),
        )
        assert (door.status_code, door.json()["code"]) == (409, "ticket_code_superseded")
        told = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == Topic.ticket_transferred.value)
            )
        ).one()
        assert told.payload["user_id"] == str(newcomer.id)

        again = await _claim(client, await create_user(session), token, auth_headers)
        assert (again.status_code, again.json()["code"]) == (409, "transfer_offer_closed")
        offer_hex, mac = token.split(".")
        for bad in (f"{offer_hex}.{mac[:-2]}xx", f"{uuid.uuid4().hex}.{mac}", "junk", "a.b.c"):
            refused = await _claim(client, newcomer, bad, auth_headers)
            assert (refused.status_code, refused.json()["code"]) == (
                400,
                "transfer_offer_token_invalid",
            ), bad

    async def test_an_offer_ends_when_taken_back_replaced_given_elsewhere_used_or_the_show_starts(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        mailbox: RecordingEmailSender,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer, friend, stranger, taker = [await create_user(session) for _ in range(4)]
        first, second = (await free_booking(client, world, buyer, auth_headers))["tickets"]

        async def offer(ticket: dict[str, Any], address: str) -> str:
            assert (await _give(client, buyer, ticket["id"], address, auth_headers)).json()[
                "status"
            ] == "offered"
            return await _mailed_offer(session, mailbox, address)

        async def refused(token: str, user: User = taker) -> tuple[int, str]:
            answer = await _claim(client, user, token, auth_headers)
            return answer.status_code, answer.json()["code"]

        # Replaced by a newer offer.
        replaced = await offer(first, "one@example.com")
        newer = await offer(first, "two@example.com")
        assert await refused(replaced) == (409, "transfer_offer_closed")
        # Taken back: only by the giver, once.
        withdraw = f"/api/tickets/{first['id']}/transfer-offer"
        assert (await client.delete(withdraw, headers=auth_headers(stranger))).status_code == 404
        assert (await client.delete(withdraw, headers=auth_headers(buyer))).status_code == 204
        again = await client.delete(withdraw, headers=auth_headers(buyer))
        assert (again.status_code, again.json()["code"]) == (404, "transfer_offer_not_found")
        assert await refused(newer) == (409, "transfer_offer_closed")
        # Given to an account directly meanwhile.
        elsewhere = await offer(first, "three@example.com")
        assert (await _give(client, buyer, first["id"], friend, auth_headers)).status_code == 200
        assert await refused(elsewhere) == (409, "transfer_offer_closed")
        # Not to the giver themself.
        own = await offer(second, "four@example.com")
        assert await refused(own, buyer) == (422, "transfer_to_self")
        # Used at the door meanwhile.
        scanned = await client.post(
            f"/api/showtimes/{world.showtime.id}/check-ins",
            json={"code": second["code"]},
            headers=auth_headers(world.organizer),
        )
        assert scanned.status_code == 201
        assert await refused(own) == (409, "ticket_already_checked_in")
        # The show started: no claim, and a queued e-mail is not sent.
        await client.delete(
            f"/api/showtimes/{world.showtime.id}/check-ins/{second['id']}",
            headers=auth_headers(world.organizer),
        )
        late = await offer(second, "five@example.com")
        replacing = await _give(client, buyer, second["id"], "six@example.com", auth_headers)
        assert replacing.json()["status"] == "offered"
        world.showtime.starts_at = datetime.now(UTC) - timedelta(minutes=1)
        await session.flush()
        assert await refused(late) == (409, "transfer_offer_closed")
        (open_offer,) = (
            await session.scalars(
                select(TicketTransferOffer).where(
                    TicketTransferOffer.status == TransferOfferStatus.open
                )
            )
        ).all()
        assert await refused(transfer.offer_token(settings, open_offer)) == (
            410,
            "transfer_offer_expired",
        )
        await HANDLERS_OF_JOBS[transfer.SEND_OFFER](session, {"offer_id": str(open_offer.id)})
        assert mailbox.to("six@example.com") == []

        # The addresses a person gave tickets to go with their account's personal data.
        admin = await create_user(session, role=Role.admin)
        deleted = await client.delete(f"/api/users/{buyer.id}", headers=auth_headers(admin))
        assert deleted.status_code == 204
        left = await session.scalars(
            select(TicketTransferOffer.to_email).where(TicketTransferOffer.from_user_id == buyer.id)
        )
        assert left.all() == []

    async def test_an_offer_lasts_until_the_showtime_starts_where_it_moves(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        mailbox: RecordingEmailSender,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session)
        ticket = (await free_booking(client, world, buyer, auth_headers))["tickets"][0]
        offered = await _give(client, buyer, ticket["id"], "later@example.com", auth_headers)
        assert offered.json()["status"] == "offered"
        later = world.showtime.starts_at + timedelta(days=3)
        moved = await client.put(
            f"/api/showtimes/{world.showtime.id}",
            json={"starts_at": later.isoformat()},
            headers=auth_headers(world.organizer),
        )
        assert moved.status_code == 200, moved.json()

        await _mailed_offer(session, mailbox, "later@example.com")
        exported = await client.get("/api/users/me/export", headers=auth_headers(buyer))

        (offer,) = exported.json()["ticket_offers"]
        assert datetime.fromisoformat(offer["expires_at"]) == later
        [message] = mailbox.to("later@example.com")
        # In the venue's time zone (New York), as the ticket holder will read the clock.
        assert f"({for_people(later, 'America/New_York')})" in message.text

    async def test_offers_e_mail_strangers_so_each_account_has_an_hourly_allowance(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        settings: Settings,
        mailbox: RecordingEmailSender,
    ) -> None:
        configure(app, settings, "booking", transfer_offers_per_hour=2)
        world = await create_world(session, price_minor=0)
        buyer, other, friend = [await create_user(session) for _ in range(3)]
        ticket = (await free_booking(client, world, buyer, auth_headers))["tickets"][0]
        theirs = (await free_booking(client, world, other, auth_headers))["tickets"][0]

        offers = [
            await _give(client, buyer, ticket["id"], f"n{i}@example.com", auth_headers)
            for i in range(3)
        ]
        assert [o.status_code for o in offers] == [200, 200, 429]
        assert offers[2].json()["code"] == "rate_limited"
        assert "retry-after" in offers[2].headers
        assert len(await queued(session, transfer.SEND_OFFER)) == 2
        # Giving to an account e-mails no stranger and is not counted; nor are others' offers.
        assert (await _give(client, buyer, ticket["id"], friend, auth_headers)).status_code == 200
        assert (await _give(client, other, theirs["id"], "n9@example.com", auth_headers)).json()[
            "status"
        ] == "offered"


async def _committed_offer(
    committed: async_sessionmaker[AsyncSession],
    client: AsyncClient,
    giver: User,
    ticket_id: str,
    auth_headers: Headers,
    settings: Settings,
) -> tuple[str, str]:
    """Offer the ticket to a new address (committed); the offer's id and its token."""
    offered = await _give(
        client, giver, ticket_id, f"{uuid.uuid4().hex[:10]}@example.com", auth_headers
    )
    assert offered.json()["status"] == "offered", offered.json()
    async with committed() as session:
        offer = await session.get_one(TicketTransferOffer, uuid.UUID(offered.json()["offer_id"]))
        return str(offer.id), transfer.offer_token(settings, offer)


class TestTransferOfferRaces:
    async def test_six_claims_of_one_offer_give_the_ticket_once(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        world, users, _ = await committed_world(committed, 7, price_minor=0)
        buyer, claimants = users[0], users[1:]
        ticket = (await free_booking(committing_client, world, buyer, auth_headers))["tickets"][0]
        offer_id, token = await _committed_offer(
            committed, committing_client, buyer, ticket["id"], auth_headers, settings
        )
        # The offer row is locked while all six reach it; then they go one after another.
        async with committed() as blocker:
            await blocker.execute(
                text("SELECT 1 FROM ticket_transfer_offers WHERE id = :id FOR UPDATE"),
                {"id": offer_id},
            )
            racing = asyncio.gather(
                *(_claim(committing_client, c, token, auth_headers) for c in claimants)
            )
            await asyncio.sleep(1.0)
            await blocker.commit()
        results = await racing
        assert sorted(r.status_code for r in results) == [200] + [409] * 5
        assert {r.json()["code"] for r in results if r.status_code == 409} == {
            "transfer_offer_closed"
        }
        winner = next(r.json()["to_user_id"] for r in results if r.status_code == 200)
        async with committed() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT t.holder_id, t.code_version, o.status, o.claimed_by"
                        " FROM tickets t JOIN ticket_transfer_offers o ON o.ticket_id = t.id"
                        " WHERE o.id = :id"
                    ),
                    {"id": offer_id},
                )
            ).one()
        assert (str(row.holder_id), row.code_version, row.status, str(row.claimed_by)) == (
            winner,
            1,
            "claimed",
            winner,
        )

    async def test_a_claim_racing_the_givers_withdrawal_leaves_one_outcome(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        _world, buyer, taker, tickets = await _issued_tickets(
            committed, committing_client, auth_headers, bookings=4
        )
        offers = [
            await _committed_offer(
                committed, committing_client, buyer, t["id"], auth_headers, settings
            )
            for t in tickets
        ]
        results = await in_pairs(
            *(
                (
                    _claim(committing_client, taker, token, auth_headers),
                    committing_client.delete(
                        f"/api/tickets/{t['id']}/transfer-offer", headers=auth_headers(buyer)
                    ),
                )
                for t, (_offer_id, token) in zip(tickets, offers, strict=True)
            )
        )
        async with committed() as session:
            rows = {
                str(r.id): r
                for r in (
                    await session.execute(
                        text(
                            "SELECT o.id, o.status, t.holder_id, t.code_version"
                            " FROM ticket_transfer_offers o JOIN tickets t ON t.id = o.ticket_id"
                            " WHERE o.id = ANY(:ids)"
                        ),
                        {"ids": [uuid.UUID(o) for o, _ in offers]},
                    )
                ).all()
            }
        for (claim, withdraw), (offer_id, _token) in zip(results, offers, strict=True):
            row = rows[offer_id]
            if claim.status_code == 200:
                assert (withdraw.status_code, withdraw.json()["code"]) == (
                    404,
                    "transfer_offer_not_found",
                )
                assert (row.status, str(row.holder_id), row.code_version) == (
                    "claimed",
                    str(taker.id),
                    1,
                )
            else:
                assert withdraw.status_code == 204
                assert (claim.status_code, claim.json()["code"]) == (409, "transfer_offer_closed")
                assert (row.status, row.holder_id, row.code_version) == ("cancelled", None, 0)
