"""Refunds: give money back through the provider, settle it once, tell the buyer."""

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.models import User
from boxoffice.booking import payments as booking_payments
from boxoffice.booking.models import Booking
from boxoffice.kit.outbox import Topic, emit
from boxoffice.payment.errors import (
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentProviderFailed,
    RefundExceedsPayment,
    UnknownProvider,
)
from boxoffice.payment.models import Payment, PaymentStatus, Refund, RefundStatus
from boxoffice.payment.providers.base import PaymentProvider, ProviderError, ProviderStatus
from boxoffice.payment.repository import PaymentRepository

log = structlog.get_logger(__name__)


async def refund(
    session: AsyncSession,
    provider: PaymentProvider,
    payment_id: uuid.UUID,
    amount_minor: int | None,
    *,
    reason: str,
    initiated_by: uuid.UUID | None,
    actor: User | None,
    ticket_ids: Sequence[uuid.UUID] | None = None,
) -> Refund:
    """Give back part of a succeeded payment (None: all not yet refunded) via its provider.

    `initiated_by`: the staff member, stored with the refund (None: the buyer, or the
    system); `actor`: whoever caused it, buyers included, for the audit log."""
    repo = PaymentRepository(session)
    payment = await repo.get_for_update(payment_id)
    if payment is None:
        raise PaymentNotFound()
    if payment.status is not PaymentStatus.succeeded:
        raise PaymentNotRefundable(extra={"status": payment.status.value})
    if payment.provider != provider.name:
        raise UnknownProvider(extra={"configured_provider": provider.name})
    reserved = await repo.reserved_refund_total(payment.id)
    if amount_minor is None:
        amount_minor = payment.amount_minor - reserved
    if amount_minor <= 0 or reserved + amount_minor > payment.amount_minor:
        raise RefundExceedsPayment(
            extra={"refundable_minor": payment.amount_minor - reserved},
        )
    row = await repo.add_refund(
        Refund(
            payment_id=payment.id,
            amount_minor=amount_minor,
            currency=payment.currency,
            status=RefundStatus.pending,
            reason=reason,
            initiated_by=initiated_by,
            ticket_ids=[str(t) for t in ticket_ids] if ticket_ids is not None else None,
        )
    )
    try:
        answer = await provider.refund(payment.provider_ref, amount_minor, reference=str(row.id))
    except ProviderError as exc:
        raise PaymentProviderFailed(str(exc)) from exc
    row.provider_ref = answer.ref
    await session.flush()
    if answer.status in (ProviderStatus.succeeded, ProviderStatus.failed):
        await settle_refund(session, row, succeeded=answer.status is ProviderStatus.succeeded)
    await session.refresh(row)
    # The booking (and its event) are in the session already where a cancel refunds it.
    booking = await session.get_one(Booking, payment.booking_id)
    organizer_id, event_id = await audit.event_context(session, booking.event_id)
    audit.record(
        session,
        actor,
        AuditAction.payment_refunded,
        "payment",
        payment.id,
        organizer_id=organizer_id,
        event_id=event_id,
        refund_id=str(row.id),
        booking_id=str(payment.booking_id),
        amount_minor=row.amount_minor,
        currency=row.currency,
        status=row.status.value,
        ticket_ids=row.ticket_ids,
    )
    return row


async def settle_refund(
    session: AsyncSession, row: Refund, *, succeeded: bool, reason: str | None = None
) -> bool:
    """A pending refund becomes succeeded (money back, event emitted) or failed, once."""
    if row.status is not RefundStatus.pending:
        return False
    payment = await PaymentRepository(session).get_for_update(row.payment_id)
    if payment is None:
        raise PaymentNotFound()
    if not succeeded:
        row.status = RefundStatus.failed
        row.failure_reason = reason or "refund failed"
        await session.flush()
        return True
    row.status = RefundStatus.succeeded
    payment.refunded_minor += row.amount_minor
    await session.flush()
    await emit(
        session,
        Topic.refund_issued,
        payment.id,
        {
            "refund_id": str(row.id),
            "payment_id": str(payment.id),
            "booking_id": str(payment.booking_id),
            "user_id": str(payment.user_id),
            "amount_minor": row.amount_minor,
            "currency": row.currency,
            "reason": row.reason,
        },
    )
    await on_refund_succeeded(session, payment, row)
    return True


async def on_refund_succeeded(session: AsyncSession, payment: Payment, row: Refund) -> None:
    """Hook run once per refund, in its transaction, right after the money went back.

    The booking's refunded tickets (`ticket_ids`; all when the payment is refunded in full)
    are voided, their units back on sale; a booking with no ticket left becomes `refunded`.
    """
    log.info(
        "refund_succeeded",
        refund_id=str(row.id),
        payment_id=str(payment.id),
        booking_id=str(payment.booking_id),
        amount_minor=row.amount_minor,
    )
    await booking_payments.settle_refunded(
        session,
        payment.booking_id,
        refund_id=row.id,
        ticket_ids=[uuid.UUID(t) for t in row.ticket_ids] if row.ticket_ids is not None else None,
        fully_refunded=payment.refunded_minor >= payment.amount_minor,
    )
