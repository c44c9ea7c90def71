"""Background jobs of the payment domain (run by the worker, safe in several copies)."""

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.kit.time import utcnow
from boxoffice.payment.providers.base import PaymentProvider, ProviderError
from boxoffice.payment.repository import PaymentRepository
from boxoffice.payment.service import apply_provider_payment

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    checked: int
    changed: int
    errors: int


async def reconcile_open_payments(
    session: AsyncSession,
    provider: PaymentProvider,
    *,
    older_than: timedelta = timedelta(minutes=15),
    limit: int = 100,
) -> ReconcileReport:
    """Ask the provider about payments still open after `older_than`, for missed webhooks."""
    repo = PaymentRepository(session)
    payments = await repo.claim_unsettled(
        provider.name, created_before=utcnow() - older_than, limit=limit
    )
    changed = errors = 0
    for payment in payments:
        try:
            verdict = await provider.retrieve(payment.provider_ref)
        except ProviderError as exc:
            errors += 1
            log.warning("payment_reconcile_failed", payment_id=str(payment.id), error=str(exc))
            continue
        outcome = await apply_provider_payment(
            session, payment, verdict, cause="reconcile", provider=provider
        )
        payment.meta = {**payment.meta, "reconciled_at": utcnow().isoformat()}
        changed += outcome == "applied"
    await session.flush()
    return ReconcileReport(checked=len(payments), changed=changed, errors=errors)
