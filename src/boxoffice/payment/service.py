"""Payment rules: initiate, the status transitions, confirm, reads.

Transitions are explicit (`succeed`, `fail`, `require_action`, `cancel`) and raise on
illegal moves. Webhooks (`webhooks.py`), the client's confirm call and the reconciliation job
(`jobs.py`) all end in `apply_verdict`, so a provider's answer changes a payment the same way
whichever way it arrives, and only once. Refunds live in `refunds.py`."""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.booking import payments as booking_payments
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.pagination import PageParams
from boxoffice.kit.time import utcnow
from boxoffice.payment import refunds, schemas
from boxoffice.payment.errors import (
    AmountMismatch,
    CurrencyMismatch,
    IllegalPaymentTransition,
    InvalidWebhookSignature,
    PaymentNotFound,
    PaymentProviderFailed,
    UnknownProvider,
)
from boxoffice.payment.models import Payment, PaymentStatus, Refund
from boxoffice.payment.providers.base import (
    EventKind,
    InvalidSignature,
    PaymentProvider,
    ProviderError,
    ProviderPayment,
    ProviderStatus,
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

PAYMENT_EVENTS = {
    EventKind.payment_succeeded: PaymentStatus.succeeded,
    EventKind.payment_failed: PaymentStatus.failed,
    EventKind.payment_requires_action: PaymentStatus.requires_action,
    EventKind.payment_cancelled: PaymentStatus.cancelled,
}
PROVIDER_STATUS_EVENT = {
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


async def succeed(
    session: AsyncSession,
    payment: Payment,
    *,
    cause: str = "manual",
    provider: PaymentProvider | None = None,
) -> bool:
    """Mark the payment succeeded (once) and run the success hook; False if it already was."""
    if not _move(payment, PaymentStatus.succeeded, cause):
        return False
    payment.succeeded_at = utcnow()
    payment.failure_reason = None
    await session.flush()
    await on_payment_succeeded(session, payment, provider)
    return True


async def on_payment_succeeded(
    session: AsyncSession, payment: Payment, provider: PaymentProvider | None = None
) -> None:
    """Hook run once per payment, in its transaction, right after it became succeeded.

    The booking is confirmed (units sold, tickets issued). When it can no longer be sold
    (late payment whose units were taken, a cancelled booking, a second payment of a paid
    booking) the money is refunded at once through `provider` (reason `late payment`);
    without a provider at hand the payment is marked `refund_due` for an admin.
    """
    log.info(
        "payment_succeeded",
        payment_id=str(payment.id),
        booking_id=str(payment.booking_id),
        amount_minor=payment.amount_minor,
        currency=payment.currency,
    )
    outcome = await booking_payments.settle_paid(
        session, payment.booking_id, payment_id=payment.id, amount_minor=payment.amount_minor
    )
    if outcome != "refund":
        return
    if provider is None or provider.name != payment.provider:
        payment.meta = {**payment.meta, "refund_due": "booking could not be confirmed"}
        await session.flush()
        log.warning("payment_refund_due", payment_id=str(payment.id))
        return
    await refunds.refund(
        session, provider, payment.id, None, reason="late payment", initiated_by=None, actor=None
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


async def apply_verdict(
    session: AsyncSession,
    payment: Payment,
    kind: EventKind,
    *,
    cause: str,
    amount_minor: int | None,
    currency: str | None,
    failure_reason: str | None,
    extra: Mapping[str, Any],
    provider: PaymentProvider | None = None,
) -> str:
    """One provider verdict on a payment; the outcome says whether it changed anything."""
    target = PAYMENT_EVENTS[kind]
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
        changed = await succeed(session, payment, cause=cause, provider=provider)
    elif target is PaymentStatus.failed:
        changed = await fail(session, payment, failure_reason, cause=cause)
    elif target is PaymentStatus.requires_action:
        changed = await require_action(session, payment, cause=cause)
    else:
        changed = await cancel(session, payment, cause=cause)
    return "applied" if changed else "unchanged"


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
    only_own: bool = False,
) -> tuple[Sequence[Payment], int]:
    """The caller's payments, newest first (every payment for admins, unless `only_own`)."""
    everyone = not only_own and has_permission(user.role, Permission.payment_read_any)
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
    applied = await apply_provider_payment(
        session, payment, verdict, cause="confirm", provider=provider
    )
    if applied is not None:
        # Server-side `updated_at` expired on flush; load it here, not lazily in a schema.
        await session.refresh(payment)
    return payment


async def apply_provider_payment(
    session: AsyncSession,
    payment: Payment,
    verdict: ProviderPayment,
    *,
    cause: str,
    provider: PaymentProvider | None = None,
) -> str | None:
    """Apply what the provider reports about a payment; None when it is still pending."""
    kind = PROVIDER_STATUS_EVENT.get(verdict.status)
    if kind is None:
        return None
    return await apply_verdict(
        session,
        payment,
        kind,
        cause=cause,
        amount_minor=verdict.amount_minor,
        currency=verdict.currency,
        failure_reason=verdict.failure_reason,
        extra=verdict.extra,
        provider=provider,
    )


async def refunds_of(session: AsyncSession, payment: Payment) -> list[Refund]:
    return list(await PaymentRepository(session).refunds_of(payment.id))


async def with_refunds(session: AsyncSession, payments: Sequence[Payment]) -> list[schemas.Payment]:
    """The payments as the API shows one, each with its refunds (one query for all)."""
    by_payment = await PaymentRepository(session).refunds_of_each([p.id for p in payments])
    return [schemas.payment_out(p, by_payment[p.id]) for p in payments]
