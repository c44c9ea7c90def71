"""A PostgreSQL-backed job queue and periodic scheduler, safe to run in several copies.

Jobs are rows. A worker claims the oldest due job with `FOR UPDATE SKIP LOCKED`, so copies
take different jobs instead of queueing; a claim is a lease (`locked_until`), so a job whose
worker died runs again after the lease. Periodic jobs live in `job_schedules`; whichever
worker first locks a due schedule row enqueues the run and moves `next_run_at` on.
Handlers run in their own transaction and must be safe to run twice (at-least-once).
"""

import asyncio
import contextlib
import enum
import json
import os
import socket
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base, str_enum

log = structlog.get_logger(__name__)


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "run_at", postgresql_where=text("status IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    status: Mapped[JobStatus] = mapped_column(
        str_enum(JobStatus, 16), nullable=False, default=JobStatus.queued
    )
    run_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobSchedule(Base):
    """A periodic job: enqueued every `interval_seconds` by whichever worker gets there first."""

    __tablename__ = "job_schedules"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80), nullable=False)
    interval_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    next_run_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Periodic:
    name: str
    kind: str
    interval_seconds: int


HANDLERS: dict[str, Handler] = {}
PERIODIC: dict[str, Periodic] = {}


def job(kind: str) -> Callable[[Handler], Handler]:
    """Register `fn(session, payload)` as the handler of jobs of `kind`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def every(seconds: int, kind: str, name: str | None = None) -> None:
    """Run jobs of `kind` every `seconds` (one run per period across all workers)."""
    PERIODIC[name or kind] = Periodic(name or kind, kind, seconds)


_INSERT = (
    "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts) "
    "VALUES (:kind, CAST(:payload AS jsonb), 'queued', "
    "now() + make_interval(secs => :delay), 0, :max_attempts) RETURNING id"
)

# The same job, not started yet and due no later than the new one would be.
_INSERT_UNLESS_QUEUED = """
    WITH queued AS (
        SELECT id FROM jobs
         WHERE kind = :kind AND payload = CAST(:payload AS jsonb) AND status = 'queued'
           AND run_at <= now() + make_interval(secs => :delay)
         LIMIT 1),
    inserted AS (
        INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts)
        SELECT :kind, CAST(:payload AS jsonb), 'queued',
               now() + make_interval(secs => :delay), 0, :max_attempts
         WHERE NOT EXISTS (SELECT 1 FROM queued)
        RETURNING id)
    SELECT id FROM inserted UNION ALL SELECT id FROM queued
"""


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    delay_seconds: float = 0,
    max_attempts: int = 5,
    unless_queued: bool = False,
) -> int:
    """Queue a job in the caller's transaction: it is dropped if that transaction rolls back.

    `unless_queued`: when the same job (kind and payload) is queued, not started yet and due
    as soon, return its id instead of queueing another. Only for callers whose changes are
    already committed (a job that has not started yet sees them); concurrent callers may
    still queue one each.
    """
    result = await session.execute(
        text(_INSERT_UNLESS_QUEUED if unless_queued else _INSERT),
        {
            "kind": kind,
            "payload": _json(payload or {}),
            "delay": delay_seconds,
            "max_attempts": max_attempts,
        },
    )
    return int(result.scalar_one())


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, default=str)


_CLAIM = text(
    """
    UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = :worker,
           locked_until = now() + make_interval(secs => :lease)
     WHERE id = (
           SELECT id FROM jobs
            WHERE (status = 'queued' AND run_at <= now())
               OR (status = 'running' AND locked_until < now())
            ORDER BY run_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED)
    RETURNING id, kind, payload, attempts, max_attempts
    """
)

_SCHEDULE_DUE = text(
    """
    UPDATE job_schedules SET next_run_at = now() + make_interval(secs => interval_seconds)
     WHERE name IN (
           SELECT name FROM job_schedules WHERE next_run_at <= now() FOR UPDATE SKIP LOCKED)
    RETURNING name, kind
    """
)


_PRUNE = text(
    """
    DELETE FROM jobs WHERE id IN (
        SELECT id FROM jobs
         WHERE status = :status AND finished_at < now() - make_interval(days => :days)
         LIMIT :batch)
    """
)


async def prune(
    session: AsyncSession, status: JobStatus, retention_days: int, *, batch: int = 50_000
) -> int:
    """Delete jobs of `status` (done or failed) that finished more than `retention_days`
    ago (0: none), at most `batch` of them; how many went."""
    if retention_days <= 0:
        return 0
    result = await session.execute(
        _PRUNE, {"status": status.value, "days": retention_days, "batch": batch}
    )
    return int(getattr(result, "rowcount", 0))


class Worker:
    """Claims and runs jobs until stopped; any number of copies may run at once."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float = 1.0,
        lease_seconds: int = 300,
        name: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def sync_schedules(self) -> None:
        """Make `job_schedules` match the registered periodic jobs (idempotent)."""
        async with self.sessionmaker() as session, session.begin():
            for periodic in PERIODIC.values():
                await session.execute(
                    text(
                        "INSERT INTO job_schedules (name, kind, interval_seconds, next_run_at) "
                        "VALUES (:name, :kind, :interval, now()) ON CONFLICT (name) DO UPDATE "
                        "SET kind = EXCLUDED.kind, interval_seconds = EXCLUDED.interval_seconds"
                    ),
                    {
                        "name": periodic.name,
                        "kind": periodic.kind,
                        "interval": periodic.interval_seconds,
                    },
                )

    async def enqueue_due_schedules(self) -> int:
        async with self.sessionmaker() as session, session.begin():
            due = (await session.execute(_SCHEDULE_DUE)).all()
            for _name, kind in due:
                await enqueue(session, kind, {}, max_attempts=1)
            return len(due)

    async def run_one(self) -> bool:
        """Claim and run one due job; False when none was due."""
        async with self.sessionmaker() as session, session.begin():
            row = (
                await session.execute(_CLAIM, {"worker": self.name, "lease": self.lease_seconds})
            ).first()
        if row is None:
            return False
        job_id, kind, payload, attempts, max_attempts = row
        handler = HANDLERS.get(kind)
        try:
            if handler is None:
                raise LookupError(f"no handler registered for job kind {kind!r}")
            async with self.sessionmaker() as session, session.begin():
                await handler(session, payload)
        except Exception as exc:
            failed = attempts >= max_attempts
            log.warning("job_failed", job_id=job_id, kind=kind, attempts=attempts, final=failed)
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    text(
                        "UPDATE jobs SET status = :status, last_error = :error, locked_by = NULL,"
                        " locked_until = NULL, run_at = now() + make_interval(secs => :backoff),"
                        " finished_at = CASE WHEN :final THEN now() END WHERE id = :id"
                    ),
                    {
                        "status": JobStatus.failed if failed else JobStatus.queued,
                        "error": "".join(traceback.format_exception_only(exc))[-2000:],
                        "backoff": min(300, 2**attempts),
                        "final": failed,
                        "id": job_id,
                    },
                )
            return True
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE jobs SET status = 'done', finished_at = now(), locked_by = NULL, "
                    "locked_until = NULL WHERE id = :id"
                ),
                {"id": job_id},
            )
        return True

    async def run_until_idle(self) -> int:
        """Enqueue due periodic jobs, then run jobs until none is due; returns the count run."""
        await self.enqueue_due_schedules()
        count = 0
        while await self.run_one():
            count += 1
        return count

    async def run_forever(self) -> None:
        await self.sync_schedules()
        log.info("worker_started", worker=self.name, kinds=sorted(HANDLERS))
        while not self._stop.is_set():
            try:
                await self.run_until_idle()
            except Exception:
                log.exception("worker_loop_error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.poll_seconds)
        log.info("worker_stopped", worker=self.name)
