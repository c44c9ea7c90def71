"""The outbox relay: delivers domain events from `outbox_events`, at least once.

A pass claims due events with `FOR UPDATE SKIP LOCKED` (several relays share the work and
never take the same event), hands each to the dispatcher inside a savepoint, and marks it
delivered in the same transaction as the rows its handlers wrote. A failing event is rolled
back to its savepoint and rescheduled with exponential backoff; the others still commit.
If the process dies mid-pass, PostgreSQL drops its locks and its uncommitted work, and the
next pass delivers the events again: external receivers deduplicate on the event id.

Run it alone with `python -m boxoffice.notification.relay [--until-idle]`.
"""

import argparse
import asyncio
import contextlib
import signal
from datetime import timedelta

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.config import NotificationSettings, Settings, get_settings
from boxoffice.db.engine import close_engine, create_engine, create_sessionmaker
from boxoffice.kit.logging import configure_logging
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.kit.time import utcnow
from boxoffice.notification.dispatcher import Dispatcher
from boxoffice.notification.webhooks import WebhookSender

log = structlog.get_logger(__name__)


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """Delay before retry number `attempts` (1-based): base, 2*base, 4*base, ... capped."""
    return timedelta(seconds=min(cap, base * 2 ** min(attempts - 1, 40)))


async def relay_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Dispatcher,
    batch: int = 100,
    *,
    retry_base_seconds: float = 2.0,
    retry_max_seconds: float = 3600.0,
) -> int:
    """Deliver up to `batch` due events; returns how many were claimed (delivered or
    rescheduled)."""
    async with sessionmaker() as session, session.begin():
        now = utcnow()
        events = (
            await session.scalars(
                select(OutboxEvent)
                .where(
                    OutboxEvent.delivered_at.is_(None),
                    OutboxEvent.next_attempt_at.is_(None) | (OutboxEvent.next_attempt_at <= now),
                )
                .order_by(OutboxEvent.created_at, OutboxEvent.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for event in events:
            event_id, attempts = event.id, event.attempts + 1
            try:
                async with session.begin_nested():
                    await dispatcher.dispatch(session, event)
            except Exception as exc:
                log.warning(
                    "outbox_delivery_failed",
                    event_id=str(event_id),
                    topic=event.topic,
                    attempts=attempts,
                    error=repr(exc),
                )
                values = {
                    "attempts": attempts,
                    "last_error": repr(exc)[:2000],
                    "next_attempt_at": utcnow()
                    + backoff(attempts, retry_base_seconds, retry_max_seconds),
                }
            else:
                values = {"attempts": attempts, "delivered_at": utcnow(), "last_error": None}
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == event_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return len(events)


async def run_relay(
    stop: asyncio.Event,
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Dispatcher,
    settings: NotificationSettings,
    webhook_sender: WebhookSender | None = None,
    *,
    until_idle: bool = False,
) -> None:
    """Relay outbox events (and send due webhooks) until `stop` is set, or, with
    `until_idle`, until a pass finds nothing due."""
    while not stop.is_set():
        busy = False
        try:
            claimed = await relay_once(
                sessionmaker,
                dispatcher,
                settings.relay_batch,
                retry_base_seconds=settings.retry_base_seconds,
                retry_max_seconds=settings.retry_max_seconds,
            )
            sent = await webhook_sender.deliver_once(sessionmaker) if webhook_sender else 0
            busy = claimed > 0 or sent > 0
        except Exception:
            # The database or a sink is down: log, wait a poll interval, try again.
            log.exception("relay_pass_failed")
        if until_idle and not busy:
            return
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.relay_poll_seconds)


async def serve_relay(
    stop: asyncio.Event,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    until_idle: bool = False,
) -> None:
    """The relay with everything the configuration names (e-mail backend, broker, webhook
    HTTP client), until `stop` is set; what `boxoffice worker` runs as one of its loops."""
    dispatcher = Dispatcher.from_settings(settings)
    try:
        async with httpx.AsyncClient(timeout=settings.webhook.timeout_seconds) as http:
            await run_relay(
                stop,
                sessionmaker,
                dispatcher,
                settings.notification,
                WebhookSender(http, settings.webhook),
                until_idle=until_idle,
            )
    finally:
        await dispatcher.close()


async def _main(until_idle: bool) -> None:
    settings = get_settings()
    configure_logging(settings.log)
    if not settings.database.url:
        raise SystemExit("BOXOFFICE_DATABASE_URL is not set")
    engine = create_engine(settings.database.url, settings.database)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve_relay(stop, create_sessionmaker(engine), settings, until_idle=until_idle)
    finally:
        await close_engine(engine)


def main() -> None:
    parser = argparse.ArgumentParser(description="Deliver outbox events (boxoffice relay)")
    parser.add_argument(
        "--until-idle", action="store_true", help="exit once nothing is due instead of polling"
    )
    args = parser.parse_args()
    log.info("relay_starting", until_idle=args.until_idle)
    asyncio.run(_main(args.until_idle))


if __name__ == "__main__":
    main()
