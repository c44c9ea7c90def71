"""Signed provider webhooks for HTTP tests (Stripe's Event envelope and header scheme)."""

import json
from typing import Any

from boxoffice.payment.providers.signing import stripe_signature_header
from tests.payment.conftest import SANDBOX_SECRET


def intent_event(
    event_type: str,
    intent_id: str,
    *,
    amount_minor: int,
    currency: str = "usd",
    event_id: str = "evt_1",
    last_payment_error: dict[str, Any] | None = None,
) -> bytes:
    status = {
        "payment_intent.succeeded": "succeeded",
        "payment_intent.payment_failed": "requires_payment_method",
        "payment_intent.requires_action": "requires_action",
        "payment_intent.canceled": "canceled",
    }[event_type]
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1686089970,
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": amount_minor,
                    "currency": currency,
                    "status": status,
                    "last_payment_error": last_payment_error,
                }
            },
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
    ).encode()


def signed(body: bytes, secret: str = SANDBOX_SECRET) -> dict[str, str]:
    return {"Stripe-Signature": stripe_signature_header(secret, body)}
