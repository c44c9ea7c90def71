"""Provider webhooks: verify the signature, dedupe by event id, record, apply once."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.payment.errors import (
    InvalidWebhookSignature,
    MalformedWebhookBody,
    PaymentNotFound,
    UnknownProvider,
)
from boxoffice.payment.models import Payment, Refund
from boxoffice.payment.providers.base import (
    EventKind,
    InvalidSignature,
    MalformedWebhook,
    PaymentProvider,
    WebhookEvent,
)
from boxoffice.payment.refunds import settle_refund
from boxoffice.payment.repository import PaymentRepository
from boxoffice.payment.service import PAYMENT_EVENTS, apply_verdict


@dataclass(frozen=True, slots=True)
class WebhookResult:
    duplicate: bool
    outcome: str
    """applied, unchanged, ignored, amount_mismatch (or duplicate)."""
    payment_id: uuid.UUID | None = None


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
        outcome = await apply_verdict(
            session,
            payment,
            event.kind,
            cause=f"webhook:{event.event_id}",
            amount_minor=event.amount_minor,
            currency=event.currency,
            failure_reason=event.failure_reason,
            extra=event.extra,
            provider=provider,
        )
        if outcome == "applied":
            payment.provider_event_ids = [*payment.provider_event_ids, event.event_id]
            await session.flush()
        payment_id: uuid.UUID | None = payment.id
    elif refund_row is not None:
        changed = await settle_refund(
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
    if event.kind in PAYMENT_EVENTS:
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
