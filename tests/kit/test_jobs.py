import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.kit.jobs import PERIODIC, Worker, enqueue, every, job

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
