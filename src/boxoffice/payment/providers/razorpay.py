"""Razorpay: Orders and Refunds APIs, checkout and webhook signatures.

API reference: https://razorpay.com/docs/api/orders/ and /api/refunds/. Basic auth with
key_id:key_secret; amounts in paise (minor units); JSON bodies. A payment here is an order:
the buyer pays it in Razorpay Checkout, which hands the client `razorpay_order_id`,
`razorpay_payment_id` and `razorpay_signature` (hex HMAC-SHA256 of `order_id|payment_id`
with the key secret). Webhooks carry `X-Razorpay-Signature` (hex HMAC-SHA256 of the raw
body with the webhook secret) and `X-Razorpay-Event-Id` for deduplication.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import httpx

from boxoffice.payment.providers.base import (
    EventKind,
    InvalidSignature,
    MalformedWebhook,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    ProviderStatus,
    WebhookEvent,
    json_answer,
)
from boxoffice.payment.providers.signing import verify_hex_signature

_ORDER_STATUS = {
    "created": ProviderStatus.pending,
    "attempted": ProviderStatus.pending,
    "paid": ProviderStatus.succeeded,
}
_REFUND_STATUS = {
    "pending": ProviderStatus.pending,
    "processed": ProviderStatus.succeeded,
    "failed": ProviderStatus.failed,
}
_RECEIPT_MAX = 40
"""Razorpay caps an order's `receipt` at 40 characters."""


def _payment_from_order(order: Mapping[str, Any]) -> ProviderPayment:
    return ProviderPayment(
        ref=str(order["id"]),
        status=_ORDER_STATUS.get(str(order.get("status")), ProviderStatus.pending),
        amount_minor=int(order.get("amount", 0)),
        currency=str(order.get("currency", "")).upper(),
        # Checkout opens with the order id; there is no separate client secret.
        client_secret=str(order["id"]),
    )


class RazorpayProvider:
    name = "razorpay"

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        api_base: str = "https://api.razorpay.com",
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._key_id = key_id
        self._key_secret = key_secret
        self._webhook_secret = webhook_secret
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout_seconds
        self._transport = transport

    async def _request(
        self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        async with httpx.AsyncClient(
            base_url=self._api_base,
            transport=self._transport,
            timeout=self._timeout,
            auth=(self._key_id, self._key_secret),
        ) as client:
            try:
                response = await client.request(method, path, json=json_body)
            except httpx.HTTPError as exc:
                raise ProviderError(f"razorpay unreachable: {exc}") from exc
        return json_answer("razorpay", response, "description")

    def verify_checkout_signature(self, order_id: str, payment_id: str, signature: str) -> None:
        """Check the signature Checkout returned for `order_id|payment_id`."""
        verify_hex_signature(self._key_secret, f"{order_id}|{payment_id}".encode(), signature)

    async def create_payment(
        self, amount_minor: int, currency: str, reference: str, metadata: Mapping[str, str]
    ) -> ProviderPayment:
        order = await self._request(
            "POST",
            "/v1/orders",
            json_body={
                "amount": amount_minor,
                "currency": currency.upper(),
                "receipt": reference[:_RECEIPT_MAX],
                "notes": {"reference": reference, **metadata},
            },
        )
        return _payment_from_order(order)

    async def retrieve(self, ref: str) -> ProviderPayment:
        return _payment_from_order(await self._request("GET", f"/v1/orders/{ref}"))

    async def confirm(self, ref: str, params: Mapping[str, str]) -> ProviderPayment:
        payment_id = params.get("razorpay_payment_id", "")
        signature = params.get("razorpay_signature", "")
        if not payment_id or not signature:
            raise InvalidSignature("razorpay_payment_id and razorpay_signature are required")
        self.verify_checkout_signature(ref, payment_id, signature)
        order = await self.retrieve(ref)
        # A verified checkout signature proves the buyer authorised this order's payment.
        return ProviderPayment(
            ref=order.ref,
            status=ProviderStatus.succeeded,
            amount_minor=order.amount_minor,
            currency=order.currency,
            extra={"razorpay_payment_id": payment_id},
        )

    async def _captured_payment_id(self, order_id: str) -> str:
        payments = await self._request("GET", f"/v1/orders/{order_id}/payments")
        for item in payments.get("items", []):
            if item.get("status") == "captured":
                return str(item["id"])
        raise ProviderError(f"razorpay: order {order_id} has no captured payment")

    async def refund(self, ref: str, amount_minor: int, reference: str) -> ProviderRefund:
        payment_id = await self._captured_payment_id(ref)
        refund = await self._request(
            "POST",
            f"/v1/payments/{payment_id}/refund",
            json_body={
                "amount": amount_minor,
                "receipt": reference[:_RECEIPT_MAX],
                "notes": {"reference": reference},
            },
        )
        return ProviderRefund(
            ref=str(refund["id"]),
            status=_REFUND_STATUS.get(str(refund.get("status")), ProviderStatus.pending),
            amount_minor=int(refund.get("amount", amount_minor)),
        )

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        signature = headers.get("x-razorpay-signature")
        if not signature:
            raise InvalidSignature("missing X-Razorpay-Signature")
        verify_hex_signature(self._webhook_secret, raw_body, signature)
        # Razorpay sends the event id as a header; the body's hash stands in if it is absent
        # (a redelivery has the same body, so it still dedupes).
        event_id = headers.get("x-razorpay-event-id") or (
            "sha256:" + hashlib.sha256(raw_body).hexdigest()
        )
        return parse_razorpay_event(event_id, raw_body)


def _entity(event: Mapping[str, Any], name: str) -> dict[str, Any]:
    entity = event.get("payload", {}).get(name, {}).get("entity", {})
    return entity if isinstance(entity, dict) else {}


def parse_razorpay_event(event_id: str, raw_body: bytes) -> WebhookEvent:
    """Normalise a verified Razorpay webhook (https://razorpay.com/docs/webhooks/payloads/)."""
    try:
        event = json.loads(raw_body)
        event_type = str(event["event"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedWebhook("not a Razorpay webhook body") from exc
    payment = _entity(event, "payment")
    if event_type in ("payment.captured", "payment.failed"):
        return WebhookEvent(
            event_id=event_id,
            event_type=event_type,
            kind=(
                EventKind.payment_succeeded
                if event_type == "payment.captured"
                else EventKind.payment_failed
            ),
            payment_ref=payment.get("order_id"),
            amount_minor=payment.get("amount"),
            currency=payment.get("currency"),
            failure_reason=payment.get("error_description"),
            extra={"razorpay_payment_id": payment.get("id")},
            payload=event,
        )
    if event_type == "order.paid":
        order = _entity(event, "order")
        return WebhookEvent(
            event_id=event_id,
            event_type=event_type,
            kind=EventKind.payment_succeeded,
            payment_ref=order.get("id"),
            amount_minor=order.get("amount_paid", order.get("amount")),
            currency=order.get("currency"),
            extra={"razorpay_payment_id": payment.get("id")} if payment else {},
            payload=event,
        )
    if event_type in ("refund.processed", "refund.failed"):
        refund = _entity(event, "refund")
        return WebhookEvent(
            event_id=event_id,
            event_type=event_type,
            kind=(
                EventKind.refund_succeeded
                if event_type == "refund.processed"
                else EventKind.refund_failed
            ),
            payment_ref=None,
            refund_ref=refund.get("id"),
            amount_minor=refund.get("amount"),
            currency=refund.get("currency"),
            payload=event,
        )
    # payment.authorized and the rest: capture is what moves money, so they are recorded only.
    return WebhookEvent(
        event_id=event_id,
        event_type=event_type,
        kind=EventKind.ignored,
        payment_ref=payment.get("order_id"),
        payload=event,
    )
