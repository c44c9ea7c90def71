"""Text messages behind one small interface; the default sender only writes to the log."""

from typing import Protocol

import structlog
from fastapi import Request

log = structlog.get_logger(__name__)


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None:
        """Deliver `text` to `phone` (E.164) or raise."""
        ...


class LogSmsSender:
    """Development sender: writes the message, code included, to the log instead of sending.

    Meant for local use only; production wires a real provider (`app.state.sms_sender`).
    """

    async def send(self, phone: str, text: str) -> None:
        log.warning("sms_not_sent_development_sender", phone=phone, text=text)


async def get_sms_sender(request: Request) -> SmsSender:
    """The app's sender: `app.state.sms_sender` when set, else the log sender."""
    sender: SmsSender | None = getattr(request.app.state, "sms_sender", None)
    return sender or LogSmsSender()
