"""E-mail through a real SMTP conversation, the file backend, and template rendering."""

from pathlib import Path

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.config import EmailSettings
from boxoffice.kit.outbox import Topic, emit
from boxoffice.notification.dispatcher import Dispatcher, EmailChannel, InAppChannel
from boxoffice.notification.email import EVENT_ID_HEADER, FileEmailSender, SmtpEmailSender
from boxoffice.notification.models import NotificationKind
from boxoffice.notification.relay import relay_once
from boxoffice.notification.templates import render
from tests.factories import create_user
from tests.notification.conftest import new_id
from tests.notification.smtp_sink import SmtpSink


class TestSmtp:
    async def test_booking_email_is_sent_as_text_and_html_with_its_event_id(
        self, session: AsyncSession, local_sessionmaker: async_sessionmaker[AsyncSession]
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
            settings = EmailSettings(
                backend="smtp", smtp_port=sink.port, smtp_start_tls=False, from_address="bo@x.test"
            )
            dispatcher = Dispatcher([InAppChannel(), EmailChannel(SmtpEmailSender(settings))])
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
    async def test_writes_one_eml_per_message(self, tmp_path: Path, session: AsyncSession) -> None:
        buyer = await create_user(session)
        sender = FileEmailSender(EmailSettings(backend="file", file_dir=tmp_path))
        dispatcher = Dispatcher([EmailChannel(sender)])
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
