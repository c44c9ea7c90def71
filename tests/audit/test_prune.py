"""The worker deletes audit entries past their retention."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction, AuditEntry
from boxoffice.kit.jobs import PERIODIC
from boxoffice.kit.time import utcnow
from boxoffice.worker import PRUNE_AUDIT


async def _entries(session: AsyncSession, ages_in_days: list[int]) -> None:
    now = utcnow()
    for age in ages_in_days:
        entry = audit.record(session, None, AuditAction.payment_refunded, "payment", f"p{age}")
        entry.at = now - timedelta(days=age)
    await session.flush()


async def _left(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(AuditEntry.target_id).order_by(AuditEntry.seq))
    return list(rows.all())


async def test_entries_past_retention_go_the_rest_stay(session: AsyncSession) -> None:
    await _entries(session, [400, 1, 370, 366, 500, 364, 900])

    removed = await audit.prune(session, 365, now=utcnow())

    assert removed == 5
    assert await _left(session) == ["p1", "p364"]


async def test_zero_keeps_everything_and_the_worker_runs_it_daily(
    session: AsyncSession,
) -> None:
    await _entries(session, [4000])

    assert await audit.prune(session, 0, now=utcnow()) == 0
    assert await _left(session) == ["p4000"]
    assert PERIODIC[PRUNE_AUDIT].interval_seconds == 24 * 3600
