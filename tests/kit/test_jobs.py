import asyncio
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.kit.jobs import PERIODIC, JobStatus, Worker, enqueue, every, job, prune
from boxoffice.worker import PRUNE_FINISHED

ran: list[int] = []


@job("test.record")
async def record(session: AsyncSession, payload: dict[str, Any]) -> None:
    await session.execute(text("SELECT 1"))
    ran.append(int(payload["n"]))


@job("test.flaky")
async def flaky(session: AsyncSession, payload: dict[str, Any]) -> None:
    raise RuntimeError("provider down")


class TestWorkers:
    async def test_several_workers_run_each_job_exactly_once(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        ran.clear()
        async with committed() as session:
            for n in range(40):
                await enqueue(session, "test.record", {"n": n})
            await session.commit()
        workers = [Worker(committed, name=f"w{i}") for i in range(4)]
        counts = await asyncio.gather(*(w.run_until_idle() for w in workers))
        assert sum(counts) == 40
        assert sorted(ran) == list(range(40))
        async with committed() as session:
            statuses = (await session.execute(text("SELECT DISTINCT status FROM jobs"))).scalars()
            assert list(statuses) == ["done"]

    async def test_a_failing_job_is_retried_later_then_marked_failed(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            job_id = await enqueue(session, "test.flaky", max_attempts=2)
            await session.commit()
        worker = Worker(committed)
        assert await worker.run_until_idle() == 1
        async with committed() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT status, attempts, last_error, run_at > now() "
                        "FROM jobs WHERE id = :id"
                    ),
                    {"id": job_id},
                )
            ).one()
            assert (row[0], row[1], row[3]) == ("queued", 1, True)
            assert "provider down" in row[2]
            await session.execute(
                text("UPDATE jobs SET run_at = now() WHERE id = :id"), {"id": job_id}
            )
            await session.commit()
        await worker.run_until_idle()
        async with committed() as session:
            status = (
                await session.execute(
                    text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}
                )
            ).scalar_one()
            assert status == "failed"

    async def test_a_periodic_job_is_enqueued_once_per_period_across_workers(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        ran.clear()
        saved = dict(PERIODIC)
        PERIODIC.clear()
        every(3600, "test.record", name="test.hourly")
        try:
            workers = [Worker(committed, name=f"w{i}") for i in range(3)]
            await workers[0].sync_schedules()
            enqueued = await asyncio.gather(*(w.enqueue_due_schedules() for w in workers))
            assert sum(enqueued) == 1
        finally:
            PERIODIC.clear()
            PERIODIC.update(saved)


class TestEnqueueUnlessQueued:
    async def test_a_queued_copy_serves_but_not_a_started_or_later_one(
        self, session: AsyncSession
    ) -> None:
        first = await enqueue(session, "test.record", {"n": 1}, unless_queued=True)
        again = await enqueue(session, "test.record", {"n": 1}, unless_queued=True)
        other = await enqueue(session, "test.record", {"n": 2}, unless_queued=True)
        assert again == first
        assert other != first

        await session.execute(
            text("UPDATE jobs SET status = 'running' WHERE id = :id"), {"id": first}
        )
        after_start = await enqueue(session, "test.record", {"n": 1}, unless_queued=True)
        assert after_start != first

        await session.execute(
            text("UPDATE jobs SET run_at = now() + interval '1 minute' WHERE id = :id"),
            {"id": after_start},
        )
        sooner = await enqueue(session, "test.record", {"n": 1}, unless_queued=True)
        assert sooner not in (first, after_start)
        queued = await session.scalar(
            text("SELECT count(*) FROM jobs WHERE kind = 'test.record' AND status = 'queued'")
        )
        assert queued == 3


class TestPruneFinished:
    async def test_the_worker_deletes_what_finished_long_ago_and_nothing_still_to_do(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        # Jobs and outbox events of every state, some old; the hourly prune (run as the
        # worker runs it, with the default retention: 7 days done, 30 failed, 7 delivered)
        # deletes only finished jobs and delivered events past their retention.
        jobs = [
            ("done", 8, "old done"),
            ("done", 6, "recent done"),
            ("failed", 31, "old failed"),
            ("failed", 8, "recent failed"),
            ("queued", None, "queued long ago"),
            ("running", None, "running long ago"),
        ]
        events = [(8, "old delivered"), (6, "recent delivered"), (None, "undelivered")]
        async with committed() as session:
            for status, finished_days_ago, label in jobs:
                await session.execute(
                    text(
                        "INSERT INTO jobs (kind, payload, status, run_at, attempts,"
                        " max_attempts, created_at, finished_at)"
                        " VALUES ('test.record', CAST(:payload AS jsonb), :status,"
                        " now() - interval '40 days', 1, 1, now() - interval '40 days',"
                        " now() - make_interval(days => :days))"
                    ),
                    {
                        "payload": json.dumps({"label": label}),
                        "status": status,
                        "days": finished_days_ago,
                    },
                )
            for delivered_days_ago, label in events:
                await session.execute(
                    text(
                        "INSERT INTO outbox_events (id, topic, aggregate_id, payload, attempts,"
                        " created_at, delivered_at) VALUES (gen_random_uuid(), 'test.topic',"
                        " :label, '{}', 1, now() - interval '40 days',"
                        " now() - make_interval(days => :days))"
                    ),
                    {"label": label, "days": delivered_days_ago},
                )
            # Not due, and leased: the worker running the prune must not pick these up.
            await session.execute(
                text(
                    "UPDATE jobs SET run_at = now() + interval '1 hour',"
                    " locked_until = now() + interval '1 hour'"
                    " WHERE status IN ('queued', 'running')"
                )
            )
            await session.commit()

        async with committed() as session:
            await enqueue(session, PRUNE_FINISHED)
            await session.commit()
        assert await Worker(committed).run_until_idle() >= 1

        async with committed() as session:
            left_jobs = (
                await session.scalars(
                    text(
                        "SELECT payload ->> 'label' FROM jobs"
                        " WHERE kind = 'test.record' ORDER BY id"
                    )
                )
            ).all()
            left_events = (
                await session.scalars(
                    text(
                        "SELECT aggregate_id FROM outbox_events WHERE topic = 'test.topic'"
                        " ORDER BY created_at, aggregate_id"
                    )
                )
            ).all()
        assert left_jobs == ["recent done", "recent failed", "queued long ago", "running long ago"]
        assert sorted(left_events) == ["recent delivered", "undelivered"]
        assert PERIODIC[PRUNE_FINISHED].interval_seconds == 3600

    async def test_zero_keeps_them(self, session: AsyncSession) -> None:
        await session.execute(
            text(
                "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts,"
                " finished_at) VALUES ('test.record', '{}', 'done', now(), 1, 1,"
                " now() - interval '900 days')"
            )
        )
        assert await prune(session, JobStatus.done, 0) == 0
        assert await prune(session, JobStatus.done, 1) == 1
