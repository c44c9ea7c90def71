"""E-mail through a real SMTP conversation, the file backend, and template rendering."""

import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from email.message import Message
from pathlib import Path

import anyio
import zxingcpp
from fastapi import FastAPI
from httpx import AsyncClient
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.config import EmailSettings, Settings
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.time import for_people, utcnow
from boxoffice.notification.dispatcher import Dispatcher, EmailChannel, InAppChannel
from boxoffice.notification.email import EVENT_ID_HEADER, FileEmailSender, SmtpEmailSender
from boxoffice.notification.models import NotificationKind
from boxoffice.notification.relay import relay_once
from boxoffice.notification.repository import save_preferences
from boxoffice.notification.service import send_showtime_reminders
from boxoffice.notification.templates import render
from boxoffice.venue.models import Venue
from tests.booking.factories import create_world, free_booking
from tests.factories import configure, create_user
from tests.notification.conftest import RecordingEmailSender, Relay, new_id
from tests.notification.smtp_sink import SmtpSink


class TestSmtp:
    async def test_booking_email_is_sent_as_text_and_html_with_its_event_id(
        self,
        session: AsyncSession,
        local_sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        event = await emit(
            session,
            Topic.booking_confirmed,
            new_id(),
            {"user_id": str(buyer.id), "event_title": "Tosca & Friends", "booking_reference": "B7"},
        )
        await session.flush()

        with SmtpSink() as sink:
            email = EmailSettings(
                backend="smtp", smtp_port=sink.port, smtp_start_tls=False, from_address="bo@x.test"
            )
            dispatcher = Dispatcher(
                [InAppChannel(), EmailChannel(SmtpEmailSender(email), settings)]
            )
            await relay_once(local_sessionmaker, dispatcher)

        [message] = sink.messages
        assert message["To"] == buyer.email
        assert message["From"] == "bo@x.test"
        assert message["Subject"] == "Booking confirmed: Tosca & Friends"
        assert message[EVENT_ID_HEADER] == str(event.id)
        parts = {p.get_content_type(): p.get_payload(decode=True) for p in message.walk()}
        assert b"Tosca & Friends" in parts["text/plain"]
        assert b"Tosca &amp; Friends" in parts["text/html"]


class TestFileBackend:
    async def test_writes_one_eml_per_message(
        self, tmp_path: Path, session: AsyncSession, settings: Settings
    ) -> None:
        buyer = await create_user(session)
        sender = FileEmailSender(EmailSettings(backend="file", file_dir=tmp_path))
        dispatcher = Dispatcher([EmailChannel(sender, settings)])
        event = await emit(session, Topic.refund_issued, new_id(), {"user_id": str(buyer.id)})

        await dispatcher.dispatch(session, event)
        await dispatcher.dispatch(session, event)

        [written] = [p async for p in anyio.Path(tmp_path).iterdir()]
        assert written.name.startswith(str(event.id))
        assert f"To: {buyer.email}" in await written.read_text()


class TestTemplates:
    def test_every_kind_renders(self) -> None:
        for kind in NotificationKind:
            rendered = render(kind, {"event_title": "X", "title": "T", "body": "B"})
            assert rendered.title
            assert rendered.html.startswith("<!doctype html>")

    def test_html_escapes_values_and_missing_values_stay_visible(self) -> None:
        rendered = render(NotificationKind.sale_started, {"event_title": "<script>"})
        partial = render(NotificationKind.booking_confirmed, {"event_title": "Hamlet"})

        assert "&lt;script&gt;" in rendered.html
        assert "<script>" not in rendered.html
        assert rendered.text == (
            "Tickets for <script>, which you are interested in, are on sale now."
        )
        assert "$booking_reference" in partial.text


def _scanned(message: Message) -> dict[str, str]:
    """Content-ID -> what a scanner reads off each inline image of the message."""
    read: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() == "image/png":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
            read[str(part["Content-ID"]).strip("<>")] = found.text
    return read


def _parts(message: Message, content_type: str) -> list[bytes]:
    found = [p.get_payload(decode=True) for p in message.walk()]
    return [
        data
        for p, data in zip(message.walk(), found, strict=True)
        if p.get_content_type() == content_type and isinstance(data, bytes)
    ]


class TestETickets:
    async def test_the_buyer_and_whom_a_ticket_was_given_each_get_the_tickets_they_hold(
        self,
        client: AsyncClient,
        session: AsyncSession,
        local_sessionmaker: async_sessionmaker[AsyncSession],
        auth_headers: Callable[[User], dict[str, str]],
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session, full_name="Bea Buyer")
        friend = await create_user(session, full_name="Fred Friend")
        booking = await free_booking(client, world, buyer, auth_headers)
        given, kept = booking["tickets"]
        # Given away before the confirmation e-mail goes: the buyer's e-mail leaves it out.
        moved = await client.post(
            f"/api/tickets/{given['id']}/transfer",
            json={"to_email": friend.email},
            headers=auth_headers(buyer),
        )
        assert moved.status_code == 200, moved.json()
        new_code = (await client.get("/api/users/me/tickets", headers=auth_headers(friend))).json()[
            "items"
        ][0]["code"]
        await session.flush()

        with SmtpSink() as sink:
            email = EmailSettings(
                backend="smtp", smtp_port=sink.port, smtp_start_tls=False, from_address="bo@x.test"
            )
            await relay_once(
                local_sessionmaker, Dispatcher([EmailChannel(SmtpEmailSender(email), settings)])
            )

        by_to = {m["To"]: m for m in sink.messages}
        confirmed, received = by_to[buyer.email], by_to[friend.email]
        assert confirmed["Subject"].startswith("Booking confirmed")
        assert _scanned(confirmed) == {
            f"ticket-{uuid.UUID(kept['id']).hex}@boxoffice": kept["code"]
        }
        (html,) = _parts(confirmed, "text/html")
        assert f'src="cid:ticket-{uuid.UUID(kept["id"]).hex}@boxoffice"'.encode() in html
        (text,) = _parts(confirmed, "text/plain")
        assert f"- {kept['label']}: {kept['code']}".encode() in text
        # The show itself, at the venue's clock (New York), as on a printed ticket.
        venue = await session.get(Venue, world.showtime.venue_id)
        assert venue is not None
        when = for_people(world.showtime.starts_at, "America/New_York")
        show = f"Your tickets for {world.event.title}: {venue.name}, {venue.address}, {when}."
        assert show.encode() in text
        assert f"<p>{venue.name}, {venue.address}<br>{when}</p>".encode() in html
        assert given["code"].encode() not in text
        (ics,) = _parts(confirmed, "text/calendar")
        assert f"UID:booking-{booking['id']}@boxoffice".encode() in ics
        assert [p.get_filename() for p in confirmed.walk() if p.get_filename()] == [
            "ticket-1.png",
            "booking.ics",
        ]

        assert received["Subject"].startswith("A ticket for")
        assert list(_scanned(received).values()) == [new_code]
        assert new_code != given["code"]
        assert not _parts(received, "text/calendar")

    async def test_other_kinds_and_tickets_no_longer_held_carry_nothing(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Callable[[User], dict[str, str]],
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session)
        booking = await free_booking(client, world, buyer, auth_headers, quantity=1)
        cancelled = await client.post(
            f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer)
        )
        assert cancelled.json()["status"] == "cancelled"

        await relay()

        kinds = {e.kind: e for e in outbox_sender.to(buyer.email)}
        assert set(kinds) == {"booking_confirmed", "booking_cancelled"}
        # Cancelled before the confirmation went: no ticket in it, nor in the cancellation.
        assert all(e.attachments == () for e in kinds.values())
        assert booking["tickets"][0]["code"] not in kinds["booking_confirmed"].text

    async def test_the_reminder_carries_every_ticket_held_for_the_showtime(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Callable[[User], dict[str, str]],
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        world = await create_world(session, price_minor=0)
        world.showtime.starts_at = utcnow() + timedelta(hours=3)
        world.showtime.ends_at = world.showtime.starts_at + timedelta(hours=2)
        buyer, friend = await create_user(session), await create_user(session)
        first = await free_booking(client, world, buyer, auth_headers, quantity=2)
        second = await free_booking(client, world, buyer, auth_headers, quantity=1)
        given = first["tickets"][0]
        moved = await client.post(
            f"/api/tickets/{given['id']}/transfer",
            json={"to_email": friend.email},
            headers=auth_headers(buyer),
        )
        assert moved.status_code == 200
        await relay()  # the confirmations and the transfer
        outbox_sender.sent.clear()

        assert await send_showtime_reminders(session, hours_before=24) == 1
        await relay()

        (reminder,) = [e for e in outbox_sender.to(buyer.email) if e.kind == "showtime_reminder"]
        when = for_people(world.showtime.starts_at, "America/New_York")
        assert reminder.subject == f"Reminder: {world.event.title} at {when}"
        read = {
            zxingcpp.read_barcodes(Image.open(io.BytesIO(a.data)))[0].text
            for a in reminder.attachments
        }
        assert read == {first["tickets"][1]["code"], second["tickets"][0]["code"]}
        assert not any(a.media_type == "text/calendar" for a in reminder.attachments)
        (theirs,) = [e for e in outbox_sender.to(friend.email) if e.kind == "showtime_reminder"]
        mine = await client.get("/api/users/me/tickets", headers=auth_headers(friend))
        (held,) = mine.json()["items"]
        (image,) = theirs.attachments
        assert zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)))[0].text == held["code"]
        assert held["code"] != given["code"]

    async def test_a_holder_asks_for_their_tickets_again_within_an_allowance(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        settings: Settings,
        auth_headers: Callable[[User], dict[str, str]],
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        configure(app, settings, "booking", ticket_emails_per_hour=2)
        world = await create_world(session, price_minor=0)
        buyer, friend, stranger = [await create_user(session) for _ in range(3)]
        booking = await free_booking(client, world, buyer, auth_headers, quantity=3)
        given = booking["tickets"][0]
        moved = await client.post(
            f"/api/tickets/{given['id']}/transfer",
            json={"to_email": friend.email},
            headers=auth_headers(buyer),
        )
        assert moved.status_code == 200
        await relay()
        outbox_sender.sent.clear()
        ask = {"showtime_id": str(world.showtime.id)}
        path = "/api/users/me/tickets/email"

        asked = await client.post(path, json=ask, headers=auth_headers(buyer))
        theirs = await client.post(path, json=ask, headers=auth_headers(friend))
        assert (asked.status_code, asked.json()) == (
            202,
            {"showtime_id": str(world.showtime.id), "tickets": 2, "email": buyer.email},
        )
        assert (theirs.status_code, theirs.json()["tickets"]) == (202, 1)
        await relay()

        (mine,) = outbox_sender.to(buyer.email)
        assert mine.kind == "tickets_requested"
        assert world.event.title in mine.subject
        assert {
            zxingcpp.read_barcodes(Image.open(io.BytesIO(a.data)))[0].text for a in mine.attachments
        } == {t["code"] for t in booking["tickets"][1:]}
        (for_friend,) = outbox_sender.to(friend.email)
        assert len(for_friend.attachments) == 1
        assert given["code"] not in for_friend.text

        nothing = await client.post(path, json=ask, headers=auth_headers(stranger))
        assert (nothing.status_code, nothing.json()["code"]) == (404, "ticket_not_found")
        again = await client.post(path, json=ask, headers=auth_headers(buyer))
        assert again.status_code == 202
        over = await client.post(path, json=ask, headers=auth_headers(buyer))
        assert (over.status_code, over.json()["code"]) == (429, "rate_limited")
        assert (await client.post(path, json=ask)).status_code == 401
        junk = await client.post(path, json={"showtime_id": "x"}, headers=auth_headers(buyer))
        assert (junk.status_code, junk.json()["code"]) == (422, "validation_error")

    async def test_asked_for_tickets_go_out_whatever_the_preferences_say(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Callable[[User], dict[str, str]],
        relay: Relay,
        outbox_sender: RecordingEmailSender,
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer = await create_user(session)
        await free_booking(client, world, buyer, auth_headers, quantity=1)
        # Stored before the choice was taken away (the API now refuses it): e-mail off.
        await save_preferences(
            session, buyer.id, {"tickets_requested": {"email": False}, "booking_confirmed": {}}
        )
        await relay()
        outbox_sender.sent.clear()

        asked = await client.post(
            "/api/users/me/tickets/email",
            json={"showtime_id": str(world.showtime.id)},
            headers=auth_headers(buyer),
        )
        assert asked.status_code == 202
        await relay()

        (sent,) = outbox_sender.to(buyer.email)
        assert sent.kind == "tickets_requested"
        assert len(sent.attachments) == 1
