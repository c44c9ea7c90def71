"""Payment rules: initiate, the status transitions, provider webhooks, refunds.

Transitions are explicit (`succeed`, `fail`, `require_action`, `cancel`, refunds) and raise
on illegal moves. Webhooks and the client's confirm call end in the same `_apply` step, so a
provider's answer changes a payment the same way whichever way it arrives, and only once.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.pagination import PageParams
from boxoffice.kit.time import utcnow
from boxoffice.payment.errors import (
    AmountMismatch,
    CurrencyMismatch,
    IllegalPaymentTransition,
    InvalidWebhookSignature,
    MalformedWebhookBody,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentProviderFailed,
    RefundExceedsPayment,
    UnknownProvider,
)
from boxoffice.payment.models import Payment, PaymentStatus, Refund, RefundStatus
from boxoffice.payment.providers.base import (
    EventKind,
    InvalidSignature,
    MalformedWebhook,
    PaymentProvider,
    ProviderError,
    ProviderPayment,
    ProviderStatus,
    WebhookEvent,
)
from boxoffice.payment.repository import PaymentRepository

log = structlog.get_logger(__name__)

_ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.initiated: frozenset(
        {
            PaymentStatus.requires_action,
            PaymentStatus.succeeded,
            PaymentStatus.failed,
            PaymentStatus.cancelled,
        }
    ),
    PaymentStatus.requires_action: frozenset(
        {PaymentStatus.succeeded, PaymentStatus.failed, PaymentStatus.cancelled}
    ),
    # The buyer may retry the same intent after a decline; money captured then is real.
    PaymentStatus.failed: frozenset({PaymentStatus.succeeded}),
    PaymentStatus.succeeded: frozenset(),
    PaymentStatus.cancelled: frozenset(),
}

_EVENT_TARGET = {
    EventKind.payment_succeeded: PaymentStatus.succeeded,
    EventKind.payment_failed: PaymentStatus.failed,
    EventKind.payment_requires_action: PaymentStatus.requires_action,
    EventKind.payment_cancelled: PaymentStatus.cancelled,
}
_PROVIDER_STATUS_EVENT = {
    ProviderStatus.succeeded: EventKind.payment_succeeded,
    ProviderStatus.failed: EventKind.payment_failed,
    ProviderStatus.requires_action: EventKind.payment_requires_action,
    ProviderStatus.cancelled: EventKind.payment_cancelled,
}


def ensure_amount_matches(
    amount_due_minor: int,
    currency: str,
    client_amount_minor: int | None,
    client_currency: str | None = None,
) -> None:
    """Refuse a client-sent amount (seed 000's `amount`) that is not the amount due."""
    if client_currency is not None and client_currency.upper() != currency.upper():
        raise CurrencyMismatch(extra={"currency": currency})
    if client_amount_minor is not None and client_amount_minor != amount_due_minor:
        raise AmountMismatch(
            f"The amount due is {amount_due_minor} {currency} minor units",
            extra={"amount_due_minor": amount_due_minor, "currency": currency},
        )


async def initiate(
    session: AsyncSession,
    provider: PaymentProvider,
    *,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    amount_due_minor: int,
    currency: str,
    client_amount_minor: int | None = None,
    client_currency: str | None = None,
) -> tuple[Payment, ProviderPayment]:
    """Open a payment attempt for the amount due of a booking (one booking, many attempts)."""
    ensure_amount_matches(amount_due_minor, currency, client_amount_minor, client_currency)
    payment_id = uuid.uuid4()
    try:
        opened = await provider.create_payment(
            amount_due_minor,
            currency,
            reference=str(payment_id),
            metadata={"booking_id": str(booking_id), "user_id": str(user_id)},
        )
    except ProviderError as exc:
        raise PaymentProviderFailed(str(exc)) from exc
    payment = Payment(
        id=payment_id,
        booking_id=booking_id,
        user_id=user_id,
        provider=provider.name,
        provider_ref=opened.ref,
        amount_minor=amount_due_minor,
        currency=currency.upper(),
        status=PaymentStatus.initiated,
        refunded_minor=0,
        provider_event_ids=[],
        meta={"history": [_history(None, PaymentStatus.initiated, "initiate")], **opened.extra},
    )
    await PaymentRepository(session).add(payment)
    return payment, opened


def _history(
    source: PaymentStatus | None, target: PaymentStatus, cause: str
) -> dict[str, str | None]:
    return {
        "at": utcnow().isoformat(),
        "from": source.value if source else None,
        "to": target.value,
        "cause": cause,
    }


def _move(payment: Payment, target: PaymentStatus, cause: str) -> bool:
    """Set the status; False when it already is `target`; raise when the move is illegal."""
    if payment.status is target:
        return False
    if target not in _ALLOWED[payment.status]:
        raise IllegalPaymentTransition(
            f"A {payment.status.value} payment cannot become {target.value}",
            extra={"status": payment.status.value},
        )
    payment.meta = {
        **payment.meta,
        "history": [*payment.meta.get("history", []), _history(payment.status, target, cause)],
    }
    payment.status = target
    return True


async def succeed(session: AsyncSession, payment: Payment, *, cause: str = "manual") -> bool:
    """Mark the payment succeeded (once) and run the success hook; False if it already was."""
    if not _move(payment, PaymentStatus.succeeded, cause):
        return False
    payment.succeeded_at = utcnow()
    payment.failure_reason = None
    await session.flush()
    await on_payment_succeeded(session, payment)
    return True


async def on_payment_succeeded(session: AsyncSession, payment: Payment) -> None:
    """Hook run once per payment, in its transaction, right after it became succeeded.

    The booking domain confirms the booking here (and applies the late-payment policy when
    the booking expired first). Until then the payment is only recorded as succeeded.
    """
    log.info(
        "payment_succeeded",
        payment_id=str(payment.id),
        booking_id=str(payment.booking_id),
        amount_minor=payment.amount_minor,
        currency=payment.currency,
    )


async def fail(
    session: AsyncSession, payment: Payment, reason: str | None, *, cause: str = "manual"
) -> bool:
    """Mark the payment failed (once) and tell the buyer through the outbox."""
    if not _move(payment, PaymentStatus.failed, cause):
        return False
    payment.failed_at = utcnow()
    payment.failure_reason = reason or "payment failed"
    await session.flush()
    await emit(
        session,
        Topic.payment_failed,
        payment.id,
        {
            "payment_id": str(payment.id),
            "booking_id": str(payment.booking_id),
            "user_id": str(payment.user_id),
            "reason": payment.failure_reason,
        },
    )
    return True


async def require_action(session: AsyncSession, payment: Payment, *, cause: str = "manual") -> bool:
    """The buyer must authenticate (3-D Secure) before the payment can go on."""
    changed = _move(payment, PaymentStatus.requires_action, cause)
    await session.flush()
    return changed


async def cancel(session: AsyncSession, payment: Payment, *, cause: str = "manual") -> bool:
    changed = _move(payment, PaymentStatus.cancelled, cause)
    await session.flush()
    return changed


@dataclass(frozen=True, slots=True)
class WebhookResult:
    duplicate: bool
    outcome: str
    """applied, unchanged, ignored, amount_mismatch (or duplicate)."""
    payment_id: uuid.UUID | None = None


async def _apply(
    session: AsyncSession,
    payment: Payment,
    kind: EventKind,
    *,
    cause: str,
    amount_minor: int | None,
    currency: str | None,
    failure_reason: str | None,
    extra: Mapping[str, Any],
) -> str:
    """One provider verdict on a payment; the outcome says whether it changed anything."""
    target = _EVENT_TARGET[kind]
    if target is PaymentStatus.succeeded and (
        (amount_minor is not None and amount_minor != payment.amount_minor)
        or (currency is not None and currency.upper() != payment.currency)
    ):
        # Money that does not match the amount due is a reconciliation case, not a sale.
        payment.meta = {
            **payment.meta,
            "amount_mismatch": {"amount_minor": amount_minor, "currency": currency, "at": cause},
        }
        log.warning("payment_amount_mismatch", payment_id=str(payment.id), cause=cause)
        await session.flush()
        return "amount_mismatch"
    if target is not payment.status and target not in _ALLOWED[payment.status]:
        return "unchanged"
    extra_meta = {k: v for k, v in extra.items() if v is not None}
    if extra_meta:
        payment.meta = {**payment.meta, **extra_meta}
    if target is PaymentStatus.succeeded:
        changed = await succeed(session, payment, cause=cause)
    elif target is PaymentStatus.failed:
        changed = await fail(session, payment, failure_reason, cause=cause)
    elif target is PaymentStatus.requires_action:
        changed = await require_action(session, payment, cause=cause)
    else:
        changed = await cancel(session, payment, cause=cause)
    return "applied" if changed else "unchanged"


async def process_webhook(
    session: AsyncSession,
    provider: PaymentProvider,
    provider_name: str,
    headers: Mapping[str, str],
    raw_body: bytes,
) -> WebhookResult:
    """Verify, dedupe, record and apply one provider webhook delivery."""
    if provider_name != provider.name:
        raise UnknownProvider(extra={"configured_provider": provider.name})
    try:
        event = provider.parse_webhook({k.lower(): v for k, v in headers.items()}, raw_body)
    except InvalidSignature as exc:
        raise InvalidWebhookSignature(str(exc)) from exc
    except MalformedWebhook as exc:
        raise MalformedWebhookBody(str(exc)) from exc
    repo = PaymentRepository(session)
    # Lock the payment (or refund) first: events of one payment then queue on its row, and
    # an event for an unknown payment is refused before anything is written.
    payment, refund_row = await _event_target(repo, provider.name, event)
    event_row = await repo.record_webhook_event(
        provider.name, event.event_id, event.event_type, event.payload
    )
    if event_row is None:
        return WebhookResult(duplicate=True, outcome="duplicate")
    if payment is not None:
        outcome = await _apply(
            session,
            payment,
            event.kind,
            cause=f"webhook:{event.event_id}",
            amount_minor=event.amount_minor,
            currency=event.currency,
            failure_reason=event.failure_reason,
            extra=event.extra,
        )
        if outcome == "applied":
            payment.provider_event_ids = [*payment.provider_event_ids, event.event_id]
            await session.flush()
        payment_id: uuid.UUID | None = payment.id
    elif refund_row is not None:
        changed = await _settle_refund(
            session,
            refund_row,
            succeeded=event.kind is EventKind.refund_succeeded,
            reason=event.failure_reason,
        )
        payment_id, outcome = refund_row.payment_id, "applied" if changed else "unchanged"
    else:
        payment_id, outcome = None, "ignored"
    await repo.mark_webhook_event_processed(event_row, payment_id, outcome)
    return WebhookResult(duplicate=False, outcome=outcome, payment_id=payment_id)


async def _event_target(
    repo: PaymentRepository, provider_name: str, event: WebhookEvent
) -> tuple[Payment | None, Refund | None]:
    """The payment or refund an event is about, locked; 404 when it names an unknown one."""
    if event.kind in _EVENT_TARGET:
        payment = (
            await repo.get_by_ref_for_update(provider_name, event.payment_ref)
            if event.payment_ref
            else None
        )
        if payment is None:
            # Possibly our own payment whose transaction has not committed yet: answering
            # 404 (and writing nothing) makes the provider deliver the event again later.
            raise PaymentNotFound(f"No payment with provider reference {event.payment_ref!r}")
        return payment, None
    if event.kind in (EventKind.refund_succeeded, EventKind.refund_failed) and event.refund_ref:
        refund_row = await repo.get_refund_by_ref_for_update(event.refund_ref)
        if refund_row is None:
            raise PaymentNotFound(f"No refund with provider reference {event.refund_ref!r}")
        return None, refund_row
    return None, None


def _can_read(user: User, payment: Payment) -> bool:
    return payment.user_id == user.id or has_permission(user.role, Permission.payment_read_any)


async def get_payment(session: AsyncSession, user: User, payment_id: uuid.UUID) -> Payment:
    """A payment its buyer (or an admin) may see; 404 for anyone else."""
    payment = await PaymentRepository(session).get(payment_id)
    if payment is None or not _can_read(user, payment):
        raise PaymentNotFound()
    return payment


async def list_payments(
    session: AsyncSession,
    user: User,
    page: PageParams,
    *,
    booking_id: uuid.UUID | None,
    status: PaymentStatus | None,
) -> tuple[Sequence[Payment], int]:
    """The caller's payments, newest first (every payment for admins)."""
    everyone = has_permission(user.role, Permission.payment_read_any)
    return await PaymentRepository(session).list(
        user_id=None if everyone else user.id,
        booking_id=booking_id,
        status=status,
        limit=page.limit,
        offset=page.offset,
    )


async def confirm(
    session: AsyncSession,
    provider: PaymentProvider,
    user: User,
    payment_id: uuid.UUID,
    params: Mapping[str, str],
) -> Payment:
    """The client says it completed the payment: ask the provider, apply its verdict."""
    repo = PaymentRepository(session)
    payment = await repo.get_for_update(payment_id)
    if payment is None or payment.user_id != user.id:
        raise PaymentNotFound()
    if payment.status in (PaymentStatus.succeeded, PaymentStatus.cancelled):
        return payment
    if payment.provider != provider.name:
        raise UnknownProvider(extra={"configured_provider": provider.name})
    try:
        verdict = await provider.confirm(
            payment.provider_ref,
            {**params, "amount_minor": str(payment.amount_minor), "currency": payment.currency},
        )
    except InvalidSignature as exc:
        raise InvalidWebhookSignature(str(exc)) from exc
    except ProviderError as exc:
        raise PaymentProviderFailed(str(exc)) from exc
    kind = _PROVIDER_STATUS_EVENT.get(verdict.status)
    if kind is not None:
        await _apply(
            session,
            payment,
            kind,
            cause="confirm",
            amount_minor=verdict.amount_minor,
            currency=verdict.currency,
            failure_reason=verdict.failure_reason,
            extra=verdict.extra,
        )
        # Server-side `updated_at` expired on flush; load it here, not lazily in a schema.
        await session.refresh(payment)
    return payment


async def refunds_of(session: AsyncSession, payment: Payment) -> list[Refund]:
    return list(await PaymentRepository(session).refunds_of(payment.id))


async def refund(
    session: AsyncSession,
    provider: PaymentProvider,
    payment_id: uuid.UUID,
    amount_minor: int,
    *,
    reason: str,
    initiated_by: uuid.UUID | None,
) -> Refund:
    """Give back part or all of a succeeded payment through its provider."""
    repo = PaymentRepository(session)
    payment = await repo.get_for_update(payment_id)
    if payment is None:
        raise PaymentNotFound()
    if payment.status is not PaymentStatus.succeeded:
        raise PaymentNotRefundable(extra={"status": payment.status.value})
    if payment.provider != provider.name:
        raise UnknownProvider(extra={"configured_provider": provider.name})
    reserved = await repo.reserved_refund_total(payment.id)
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
        )
    )
    try:
        answer = await provider.refund(payment.provider_ref, amount_minor, reference=str(row.id))
    except ProviderError as exc:
        raise PaymentProviderFailed(str(exc)) from exc
    row.provider_ref = answer.ref
    await session.flush()
    if answer.status in (ProviderStatus.succeeded, ProviderStatus.failed):
        await _settle_refund(session, row, succeeded=answer.status is ProviderStatus.succeeded)
    await session.refresh(row)
    return row


async def _settle_refund(
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
    return True
