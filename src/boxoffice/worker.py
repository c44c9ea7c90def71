"""`boxoffice worker`: the job runner and the outbox relay, side by side in one process.

Every periodic job of every domain is registered here or in the domain's `jobs.py` (imported
below), so one worker command runs them all. Any number of workers may run at once: jobs are
claimed with `FOR UPDATE SKIP LOCKED`, schedules fire once per period across all copies, and
the relay claims outbox events the same way.
"""

import asyncio
import signal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

import boxoffice.auth.email_verification
import boxoffice.auth.password_reset
import boxoffice.booking.jobs
import boxoffice.user.closing
import boxoffice.waitlist.jobs  # noqa: F401 - registers the waitlist offer job
from boxoffice.audit import service as audit
from boxoffice.auth.jobs import purge_expired
from boxoffice.config import Settings, get_settings
from boxoffice.db.engine import close_engine, create_engine, create_sessionmaker
from boxoffice.kit import jobs, outbox
from boxoffice.kit.jobs import JobStatus, Worker, every, job
from boxoffice.kit.time import utcnow
from boxoffice.notification.relay import serve_relay
from boxoffice.notification.service import announce_sales_started, send_showtime_reminders
from boxoffice.payment.jobs import reconcile_open_payments
from boxoffice.payment.providers.registry import ProviderNotConfigured, build_provider

log = structlog.get_logger(__name__)

ANNOUNCE_SALES = "notification.announce_sales_started"
RECONCILE_PAYMENTS = "payment.reconcile_open_payments"
PURGE_AUTH = "auth.purge_expired"
PRUNE_AUDIT = "audit.prune"
PRUNE_FINISHED = "kit.prune_finished"
REMIND_HOLDERS = "notification.send_showtime_reminders"


@job(ANNOUNCE_SALES)
async def _announce_sales(session: AsyncSession, payload: dict[str, Any]) -> None:
    announced = await announce_sales_started(session)
    if announced:
        log.info("sales_started_announced", events=announced)


@job(REMIND_HOLDERS)
async def _remind_holders(session: AsyncSession, payload: dict[str, Any]) -> None:
    hours = get_settings().notification.reminder_hours_before
    reminded = await send_showtime_reminders(session, hours)
    if reminded:
        log.info("showtime_reminders_sent", showtimes=reminded)


@job(RECONCILE_PAYMENTS)
async def _reconcile_payments(session: AsyncSession, payload: dict[str, Any]) -> None:
    try:
        provider = build_provider(get_settings().payment)
    except ProviderNotConfigured as exc:
        log.warning("payment_reconcile_skipped", reason=str(exc))
        return
    report = await reconcile_open_payments(session, provider)
    if report.checked:
        log.info("payments_reconciled", checked=report.checked, changed=report.changed)


@job(PURGE_AUTH)
async def _purge_auth(session: AsyncSession, payload: dict[str, Any]) -> None:
    removed = await purge_expired(session, get_settings().auth)
    log.info("auth_purged", **removed)


@job(PRUNE_AUDIT)
async def _prune_audit(session: AsyncSession, payload: dict[str, Any]) -> None:
    removed = await audit.prune(session, get_settings().audit.retention_days, now=utcnow())
    if removed:
        log.info("audit_pruned", entries=removed)


@job(PRUNE_FINISHED)
async def _prune_finished(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Finished jobs and delivered outbox events past their retention: without this the two
    tables grow by every periodic run and every domain event, for ever."""
    settings = get_settings().worker
    removed = {
        "done_jobs": await jobs.prune(session, JobStatus.done, settings.done_job_retention_days),
        "failed_jobs": await jobs.prune(
            session, JobStatus.failed, settings.failed_job_retention_days
        ),
        "delivered_events": await outbox.prune_delivered(
            session, settings.delivered_event_retention_days
        ),
    }
    if any(removed.values()):
        log.info("finished_pruned", **removed)


every(30, ANNOUNCE_SALES)
every(300, RECONCILE_PAYMENTS)
every(300, REMIND_HOLDERS)
every(24 * 3600, PURGE_AUTH)
every(24 * 3600, PRUNE_AUDIT)
every(3600, PRUNE_FINISHED)


async def run_worker(dsn: str, settings: Settings, *, once: bool) -> int:
    """Run jobs and the relay until SIGINT/SIGTERM (or, with `once`, until nothing is due)."""
    engine = create_engine(dsn, settings.database)
    sessionmaker = create_sessionmaker(engine)
    worker = Worker(sessionmaker)
    stop = asyncio.Event()

    def request_stop() -> None:
        worker.stop()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    try:
        if once:
            await worker.sync_schedules()
            ran = await worker.run_until_idle()
            await serve_relay(stop, sessionmaker, settings, until_idle=True)
            return ran
        await asyncio.gather(worker.run_forever(), serve_relay(stop, sessionmaker, settings))
        return 0
    finally:
        await close_engine(engine)
