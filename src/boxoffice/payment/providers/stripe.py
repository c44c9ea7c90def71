"""Stripe: PaymentIntents and Refunds over the REST API, webhooks by `Stripe-Signature`.

API reference: https://docs.stripe.com/api/payment_intents and /api/refunds. Requests are
form-encoded with `Authorization: Bearer sk_...`; every POST carries an `Idempotency-Key`
so a retried call never creates a second intent or refund.
"""

import json
from collections.abc import Mapping
from typing import Any

import httpx

from boxoffice.payment.providers.base import (
    EventKind,
    MalformedWebhook,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    ProviderStatus,
    WebhookEvent,
    json_answer,
)
from boxoffice.payment.providers.signing import verify_stripe_signature

_INTENT_STATUS = {
    "requires_payment_method": ProviderStatus.pending,
    "requires_confirmation": ProviderStatus.pending,
    "processing": ProviderStatus.pending,
    "requires_capture": ProviderStatus.pending,
    "requires_action": ProviderStatus.requires_action,
    "succeeded": ProviderStatus.succeeded,
    "canceled": ProviderStatus.cancelled,
}
_REFUND_STATUS = {
    "pending": ProviderStatus.pending,
    "requires_action": ProviderStatus.pending,
    "succeeded": ProviderStatus.succeeded,
    "failed": ProviderStatus.failed,
    "canceled": ProviderStatus.failed,
}
_INTENT_EVENTS = {
    "payment_intent.succeeded": EventKind.payment_succeeded,
    "payment_intent.payment_failed": EventKind.payment_failed,
    "payment_intent.requires_action": EventKind.payment_requires_action,
    "payment_intent.canceled": EventKind.payment_cancelled,
}
_REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}


def _form(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding of nested maps: `metadata[booking_id]=...`."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, Mapping):
            pairs.extend(_form(value, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


def _failure(intent: Mapping[str, Any]) -> str | None:
    error = intent.get("last_payment_error")
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("code") or "payment failed")
    return None


def payment_from_intent(intent: Mapping[str, Any]) -> ProviderPayment:
    status = _INTENT_STATUS.get(str(intent.get("status")), ProviderStatus.pending)
    failure = _failure(intent)
    # After a declined attempt Stripe puts the intent back to requires_payment_method with
    # last_payment_error set: for the buyer that attempt failed.
    if status is ProviderStatus.pending and failure:
        status = ProviderStatus.failed
    return ProviderPayment(
        ref=str(intent["id"]),
        status=status,
        amount_minor=int(intent.get("amount", 0)),
        currency=str(intent.get("currency", "")).upper(),
        client_secret=intent.get("client_secret"),
        failure_reason=failure,
        extra={"latest_charge": intent.get("latest_charge")} if intent.get("latest_charge") else {},
    )


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str = "https://api.stripe.com",
        tolerance_seconds: int = 300,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret
        self._api_base = api_base.rstrip("/")
        self._tolerance = tolerance_seconds
        self._timeout = timeout_seconds
        self._transport = transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        data: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._secret_key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        async with httpx.AsyncClient(
            base_url=self._api_base, transport=self._transport, timeout=self._timeout
        ) as client:
            try:
                response = await client.request(
                    method, path, data=dict(_form(data)) if data else None, headers=headers
                )
            except httpx.HTTPError as exc:
                raise ProviderError(f"stripe unreachable: {exc}") from exc
        return json_answer("stripe", response, "message")

    async def create_payment(
        self, amount_minor: int, currency: str, reference: str, metadata: Mapping[str, str]
    ) -> ProviderPayment:
        intent = await self._request(
            "POST",
            "/v1/payment_intents",
            data={
                "amount": amount_minor,
                "currency": currency.lower(),
                "automatic_payment_methods": {"enabled": True},
                "metadata": {"reference": reference, **metadata},
            },
            idempotency_key=f"pi-{reference}",
        )
        return payment_from_intent(intent)

    async def retrieve(self, ref: str) -> ProviderPayment:
        return payment_from_intent(await self._request("GET", f"/v1/payment_intents/{ref}"))

    async def confirm(self, ref: str, params: Mapping[str, str]) -> ProviderPayment:
        # The client confirms with Stripe.js; the server only trusts Stripe's own answer.
        return await self.retrieve(ref)

    async def refund(self, ref: str, amount_minor: int, reference: str) -> ProviderRefund:
        refund = await self._request(
            "POST",
            "/v1/refunds",
            data={
                "payment_intent": ref,
                "amount": amount_minor,
                "metadata": {"reference": reference},
            },
            idempotency_key=f"re-{reference}",
        )
        return ProviderRefund(
            ref=str(refund["id"]),
            status=_REFUND_STATUS.get(str(refund.get("status")), ProviderStatus.pending),
            amount_minor=int(refund.get("amount", amount_minor)),
        )

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        verify_stripe_signature(
            self._webhook_secret,
            headers.get("stripe-signature"),
            raw_body,
            tolerance_seconds=self._tolerance,
        )
        return parse_stripe_event(raw_body)


def parse_stripe_event(raw_body: bytes) -> WebhookEvent:
    """Normalise a verified Stripe Event object (https://docs.stripe.com/api/events/object)."""
    try:
        event = json.loads(raw_body)
        event_id = str(event["id"])
        event_type = str(event["type"])
        obj: dict[str, Any] = event["data"]["object"]
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedWebhook("not a Stripe event object") from exc
    if not event_id or not isinstance(obj, dict):
        raise MalformedWebhook("event without id")
    if event_type in _INTENT_EVENTS:
        return WebhookEvent(
            event_id=event_id,
            event_type=event_type,
            kind=_INTENT_EVENTS[event_type],
            payment_ref=str(obj.get("id")),
            amount_minor=obj.get("amount"),
            currency=str(obj.get("currency", "")).upper() or None,
            failure_reason=_failure(obj),
            extra={"latest_charge": obj.get("latest_charge")} if obj.get("latest_charge") else {},
            payload=event,
        )
    if event_type in _REFUND_EVENTS and obj.get("object") == "refund":
        status = _REFUND_STATUS.get(str(obj.get("status")), ProviderStatus.pending)
        kind = {
            ProviderStatus.succeeded: EventKind.refund_succeeded,
            ProviderStatus.failed: EventKind.refund_failed,
        }.get(status, EventKind.ignored)
        return WebhookEvent(
            event_id=event_id,
            event_type=event_type,
            kind=kind,
            payment_ref=obj.get("payment_intent"),
            refund_ref=str(obj.get("id")),
            amount_minor=obj.get("amount"),
            currency=str(obj.get("currency", "")).upper() or None,
            failure_reason=obj.get("failure_reason"),
            payload=event,
        )
    return WebhookEvent(
        event_id=event_id,
        event_type=event_type,
        kind=EventKind.ignored,
        payment_ref=None,
        payload=event,
    )
