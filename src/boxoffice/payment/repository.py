import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.payment.models import (
    Payment,
    PaymentStatus,
    PaymentWebhookEvent,
    Refund,
    RefundStatus,
)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, payment: Payment) -> Payment:
        self.session.add(payment)
        await self.session.flush()
        return payment

    async def get(self, payment_id: uuid.UUID) -> Payment | None:
        # populate_existing: server-side `updated_at` of an object flushed earlier in the
        # session is expired, and must be loaded here rather than lazily later.
        return await self.session.get(Payment, payment_id, populate_existing=True)

    async def get_for_update(self, payment_id: uuid.UUID) -> Payment | None:
        return await self.session.scalar(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )

    async def get_by_ref_for_update(self, provider: str, provider_ref: str) -> Payment | None:
        return await self.session.scalar(
            select(Payment)
            .where(Payment.provider == provider, Payment.provider_ref == provider_ref)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )

    async def list(
        self,
        *,
        user_id: uuid.UUID | None,
        booking_id: uuid.UUID | None,
        status: PaymentStatus | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Payment], int]:
        conditions: list[Any] = []
        if user_id is not None:
            conditions.append(Payment.user_id == user_id)
        if booking_id is not None:
            conditions.append(Payment.booking_id == booking_id)
        if status is not None:
            conditions.append(Payment.status == status)
        total = await self.session.scalar(
            select(func.count()).select_from(Payment).where(*conditions)
        )
        rows = await self.session.scalars(
            select(Payment)
            .where(*conditions)
            .order_by(Payment.created_at.desc(), Payment.id)
            .limit(limit)
            .offset(offset)
            .execution_options(populate_existing=True)
        )
        return rows.all(), total or 0

    async def record_webhook_event(
        self, provider: str, provider_event_id: str, event_type: str, payload: dict[str, Any]
    ) -> uuid.UUID | None:
        """Insert the event once; None when it was seen before (a concurrent duplicate waits
        on the unique index until the first transaction ends, then finds it)."""
        return await self.session.scalar(
            insert(PaymentWebhookEvent)
            .values(
                provider=provider,
                provider_event_id=provider_event_id,
                event_type=event_type,
                payload=payload,
            )
            .on_conflict_do_nothing(index_elements=["provider", "provider_event_id"])
            .returning(PaymentWebhookEvent.id)
        )

    async def mark_webhook_event_processed(
        self, event_row_id: uuid.UUID, payment_id: uuid.UUID | None, outcome: str
    ) -> None:
        await self.session.execute(
            update(PaymentWebhookEvent)
            .where(PaymentWebhookEvent.id == event_row_id)
            .values(payment_id=payment_id, outcome=outcome, processed_at=func.now())
        )

    async def add_refund(self, refund: Refund) -> Refund:
        self.session.add(refund)
        await self.session.flush()
        return refund

    async def refunds_of(self, payment_id: uuid.UUID) -> Sequence[Refund]:
        return (await self.refunds_of_each([payment_id]))[payment_id]

    async def refunds_of_each(
        self, payment_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, builtins.list[Refund]]:
        """Each payment's refunds, oldest first, in one query."""
        rows = await self.session.scalars(
            select(Refund)
            .where(Refund.payment_id.in_(payment_ids))
            .order_by(Refund.created_at)
            .execution_options(populate_existing=True)
        )
        found: dict[uuid.UUID, builtins.list[Refund]] = {pid: [] for pid in payment_ids}
        for refund in rows:
            found[refund.payment_id].append(refund)
        return found

    async def reserved_refund_total(self, payment_id: uuid.UUID) -> int:
        """What pending and succeeded refunds of a payment add up to."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(
                Refund.payment_id == payment_id, Refund.status != RefundStatus.failed
            )
        )
        return int(total or 0)

    async def get_refund_by_ref_for_update(self, provider_ref: str) -> Refund | None:
        return await self.session.scalar(
            select(Refund)
            .where(Refund.provider_ref == provider_ref)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )

    async def claim_unsettled(
        self, provider: str, *, created_before: datetime, limit: int
    ) -> Sequence[Payment]:
        """Open payments older than `created_before`, locked; rows another worker holds are
        skipped, so several reconcilers never check the same payment at once."""
        rows = await self.session.scalars(
            select(Payment)
            .where(
                Payment.provider == provider,
                Payment.status.in_([PaymentStatus.initiated, PaymentStatus.requires_action]),
                Payment.created_at < created_before,
            )
            .order_by(Payment.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return rows.all()
