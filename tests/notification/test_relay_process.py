"""The relay as a real process: killed mid-delivery, restarted, nothing lost."""

import asyncio
import os
import signal
import sys
import uuid
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.kit.outbox import OutboxEvent, Topic, emit
from boxoffice.notification.email import EVENT_ID_HEADER
from boxoffice.notification.models import Notification
from tests.factories import create_user
from tests.notification.conftest import new_id
from tests.notification.smtp_sink import SmtpSink

EVENTS = 8


def relay_env(database_url: str, smtp_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "BOXOFFICE_DATABASE_URL": database_url,
        "BOXOFFICE_DATABASE_POOL_SIZE": "2",
        "BOXOFFICE_EMAIL_BACKEND": "smtp",
        "BOXOFFICE_EMAIL_SMTP_PORT": str(smtp_port),
        "BOXOFFICE_EMAIL_SMTP_START_TLS": "false",
        "BOXOFFICE_LOG_LEVEL": "WARNING",
    }


async def start_relay(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "boxoffice.notification.relay",
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


class TestRelayProcess:
    async def test_sigkill_mid_delivery_loses_nothing_and_duplicates_carry_event_ids(
        self, committed: async_sessionmaker[AsyncSession], database_url: str
    ) -> None:
        async with committed() as session:
            users = [await create_user(session) for _ in range(EVENTS)]
            event_ids = {
                (
                    await emit(
                        session,
                        Topic.booking_confirmed,
                        new_id(),
                        {"user_id": str(u.id), "event_title": "Hamlet"},
                    )
                ).id
                for u in users
            }
            await session.commit()

        with SmtpSink(stall_at=2) as sink:
            env = relay_env(database_url, sink.port)
            first = await start_relay(env)
            assert await asyncio.to_thread(sink.stalled.wait, 60)
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
            sink.release()

            second = await start_relay(env, "--until-idle")
            assert await asyncio.wait_for(second.wait(), timeout=60) == 0

        async with committed() as session:
            undelivered = await session.scalar(
                select(func.count()).where(OutboxEvent.delivered_at.is_(None))
            )
            per_user = dict(
                (
                    await session.execute(
                        select(Notification.user_id, func.count()).group_by(Notification.user_id)
                    )
                ).all()
            )
        received = Counter(uuid.UUID(m[EVENT_ID_HEADER]) for m in sink.messages)
        assert undelivered == 0
        assert per_user == {u.id: 1 for u in users}
        assert set(received) == event_ids
        duplicates = {e for e, n in received.items() if n > 1}
        # The messages sent before the kill (up to the stalled one) were sent again.
        assert 1 <= len(duplicates) <= 3
        for message in sink.messages:
            assert message["Message-ID"].startswith(f"<{message[EVENT_ID_HEADER]}.")
