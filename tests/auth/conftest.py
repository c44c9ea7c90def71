"""E-mailed account tokens (password reset, e-mail verification): a mailbox and the worker."""

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import account_tokens
from boxoffice.kit.jobs import HANDLERS, Job
from tests.notification.conftest import RecordingEmailSender

_TOKEN = re.compile(r"\b[0-9a-f]{32}\.\d+\.[A-Za-z0-9_-]{43}\b")


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> RecordingEmailSender:
    """Where the account-token jobs send their e-mails."""
    sender = RecordingEmailSender()
    monkeypatch.setattr(account_tokens, "mail_sender", lambda: sender)
    return sender


async def queued(session: AsyncSession, kind: str) -> list[dict[str, Any]]:
    """Payloads of the jobs of `kind` queued in the test's transaction, oldest first."""
    jobs = await session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))
    return [dict(j.payload) for j in jobs]


async def mailed_token(
    session: AsyncSession, mailbox: RecordingEmailSender, kind: str, email: str
) -> str:
    """Run the last queued job of `kind` as the worker would; the token it mailed `email`."""
    await HANDLERS[kind](session, (await queued(session, kind))[-1])
    [message] = mailbox.to(email)[-1:]
    found = _TOKEN.search(message.text)
    assert found is not None, message.text
    return found.group(0)
