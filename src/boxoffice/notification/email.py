"""E-mail channel backends: `log` and `file` for development, `smtp` (aiosmtplib) for real.

Every message carries `X-Boxoffice-Event-Id` and a `Message-ID` derived from the domain
event, the user and the kind, so a redelivered message is recognisable as the same one.
"""

import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from html import escape
from typing import Protocol

import aiosmtplib
import anyio
import structlog

from boxoffice.config import EmailSettings

log = structlog.get_logger(__name__)

EVENT_ID_HEADER = "X-Boxoffice-Event-Id"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    media_type: str
    """`maintype/subtype`, e.g. `image/png`."""
    data: bytes
    inline_id: str | None = None
    """Content-ID of an image the HTML shows (`<img src="cid:...">`); None: attached."""


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str
    event_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    attachments: tuple[Attachment, ...] = ()


def token_email(
    *,
    to: str,
    subject: str,
    opening: str,
    opening_html: str,
    token: str,
    link_template: str | None,
    action: str,
    api_call: str,
    closing: str,
    event_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: str,
) -> OutgoingEmail:
    """An e-mail carrying a token (account tokens, ticket offers): a link to the app's page
    when `link_template` (with `{token}`) is configured, else the token and the API call to
    send it to. `opening_html` is `opening` as HTML, already escaped."""
    if link_template:
        link = link_template.replace("{token}", token)
        how = f"{action}:\n\n{link}\n"
        how_html = f'<p><a href="{escape(link)}">{escape(action)}</a></p>'
    else:
        how = f"Your token:\n\n{token}\n\n{api_call}.\n"
        how_html = (
            f"<p>Your token:</p><p><code>{escape(token)}</code></p><p>{escape(api_call)}.</p>"
        )
    return OutgoingEmail(
        to=to,
        subject=subject[:200],
        text=f"{opening}\n\n{how}\n{closing}\n",
        html=(
            '<!doctype html><html><body style="font-family:sans-serif">'
            f"<p>{opening_html}</p>{how_html}<p>{escape(closing)}</p></body></html>"
        ),
        event_id=event_id,
        user_id=user_id,
        kind=kind,
    )


def build_message(settings: EmailSettings, email: OutgoingEmail) -> EmailMessage:
    """Plain text first, HTML second (multipart/alternative); images the HTML shows go with
    it (multipart/related), other attachments after both (multipart/mixed)."""
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{email.event_id}.{email.user_id}.{email.kind}@boxoffice>"
    message[EVENT_ID_HEADER] = str(email.event_id)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    _text_part, html_part = message.iter_parts()
    for a in email.attachments:
        maintype, _, subtype = a.media_type.partition("/")
        if a.inline_id is not None:
            html_part.add_related(
                a.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{a.inline_id}>",
                filename=a.filename,
                disposition="inline",
            )
    for a in email.attachments:
        maintype, _, subtype = a.media_type.partition("/")
        if a.inline_id is None:
            message.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return message


class EmailSender(Protocol):
    async def send(self, email: OutgoingEmail) -> None: ...


class LogEmailSender:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    async def send(self, email: OutgoingEmail) -> None:
        log.info(
            "email_sent",
            backend="log",
            to=email.to,
            subject=email.subject,
            text=email.text,
            attachments=[a.filename for a in email.attachments],
            event_id=str(email.event_id),
        )


class FileEmailSender:
    """Writes one `.eml` per message; the name is stable, so a redelivery overwrites it."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    async def send(self, email: OutgoingEmail) -> None:
        folder = anyio.Path(self.settings.file_dir)
        await folder.mkdir(parents=True, exist_ok=True)
        name = f"{email.event_id}.{email.user_id}.{email.kind}.eml"
        await (folder / name).write_bytes(build_message(self.settings, email).as_bytes())


class SmtpEmailSender:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    async def send(self, email: OutgoingEmail) -> None:
        s = self.settings
        await aiosmtplib.send(
            build_message(s, email),
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_start_tls,
            timeout=s.smtp_timeout_seconds,
        )


def email_sender(settings: EmailSettings) -> EmailSender:
    """The backend the configuration names."""
    if settings.backend == "smtp":
        return SmtpEmailSender(settings)
    if settings.backend == "file":
        return FileEmailSender(settings)
    return LogEmailSender(settings)
