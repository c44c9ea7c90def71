"""An offline payment provider that behaves like a hosted one, for development and tests.

It mirrors Stripe: a payment is an intent (`sbx_pi_...`) with a client secret; the client
"pays" it with a test card number through `POST /api/payments/confirm`; the outcome follows
Stripe's test cards (https://docs.stripe.com/testing). Every outcome is also emitted as a
webhook in Stripe's Event format, signed with the sandbox secret in Stripe's
`Stripe-Signature` scheme, so delivering it to `POST /api/payments/webhooks/sandbox` runs
exactly the verification and processing code a real provider's webhook does.

Its state lives in the process (a simulation, not a ledger); confirm falls back to the
amount the caller expects when the payment was created by another worker process.
"""

import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from boxoffice.payment.providers.base import (
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    ProviderStatus,
    WebhookEvent,
)
from boxoffice.payment.providers.signing import stripe_signature_header, verify_stripe_signature
from boxoffice.payment.providers.stripe import parse_stripe_event

SUCCEEDS = "succeeds"
LATE = "late"
REQUIRES_ACTION = "requires_action"

TEST_CARDS: dict[str, tuple[str, str | None]] = {
    "4242424242424242": (SUCCEEDS, None),
    "5555555555554444": (SUCCEEDS, None),
    "4000000000000002": ("declined", "Your card was declined. (card_declined)"),
    "4000000000009995": ("declined", "Your card has insufficient funds. (insufficient_funds)"),
    "4000000000009987": ("declined", "Your card was declined. (lost_card)"),
    "4000000000000069": ("declined", "Your card has expired. (expired_card)"),
    "4000000000000127": ("declined", "Your card's security code is incorrect. (incorrect_cvc)"),
    "4000000000000119": ("declined", "An error occurred while processing your card."),
    "4000002500003155": (REQUIRES_ACTION, None),
    "4000000000000000": (LATE, None),
}
"""Card number -> (behaviour, decline message). 4000000000000000 is sandbox-only: the charge
is accepted but the success arrives later, only by webhook (like an asynchronous method)."""

DEFAULT_CARD = "4242424242424242"


@dataclass(slots=True)
class _Intent:
    amount_minor: int
    currency: str
    status: ProviderStatus = ProviderStatus.pending
    failure_reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EmittedWebhook:
    headers: dict[str, str]
    body: bytes


class SandboxProvider:
    name = "sandbox"

    def __init__(self, *, webhook_secret: str, tolerance_seconds: int = 300) -> None:
        self._secret = webhook_secret
        self._tolerance = tolerance_seconds
        self._intents: dict[str, _Intent] = {}
        self.emitted: list[EmittedWebhook] = []
        """Webhooks the sandbox "sent", oldest first; deliver them to the webhook endpoint."""

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        # The envelope of https://docs.stripe.com/api/events/object.
        event = {
            "id": f"evt_sbx_{uuid.uuid4().hex}",
            "object": "event",
            "api_version": "sandbox",
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        body = json.dumps(event).encode()
        headers = {"stripe-signature": stripe_signature_header(self._secret, body)}
        self.emitted.append(EmittedWebhook(headers=headers, body=body))

    def _intent_object(self, ref: str, intent: _Intent) -> dict[str, Any]:
        error = (
            {"code": "card_declined", "message": intent.failure_reason}
            if intent.failure_reason
            else None
        )
        return {
            "id": ref,
            "object": "payment_intent",
            "amount": intent.amount_minor,
            "currency": intent.currency.lower(),
            "status": {
                ProviderStatus.pending: "processing",
                ProviderStatus.requires_action: "requires_action",
                ProviderStatus.succeeded: "succeeded",
                ProviderStatus.failed: "requires_payment_method",
                ProviderStatus.cancelled: "canceled",
            }[intent.status],
            "last_payment_error": error,
            "metadata": intent.metadata,
        }

    def _payment(self, ref: str, intent: _Intent) -> ProviderPayment:
        return ProviderPayment(
            ref=ref,
            status=intent.status,
            amount_minor=intent.amount_minor,
            currency=intent.currency,
            client_secret=f"{ref}_secret_{secrets.token_urlsafe(12)}",
            failure_reason=intent.failure_reason,
        )

    async def create_payment(
        self, amount_minor: int, currency: str, reference: str, metadata: Mapping[str, str]
    ) -> ProviderPayment:
        ref = f"sbx_pi_{uuid.uuid4().hex}"
        intent = _Intent(amount_minor, currency.upper(), metadata={"reference": reference})
        intent.metadata.update(metadata)
        self._intents[ref] = intent
        return self._payment(ref, intent)

    async def retrieve(self, ref: str) -> ProviderPayment:
        intent = self._intents.get(ref)
        if intent is None:
            raise ProviderError(f"sandbox: no such payment {ref}", status_code=404)
        return self._payment(ref, intent)

    async def confirm(self, ref: str, params: Mapping[str, str]) -> ProviderPayment:
        """Charge a test card: `card_number`; 3-D Secure cards take `authenticated`."""
        intent = self._intents.get(ref)
        if intent is None:
            if "amount_minor" not in params or "currency" not in params:
                raise ProviderError(f"sandbox: no such payment {ref}", status_code=404)
            intent = _Intent(int(params["amount_minor"]), params["currency"].upper())
            self._intents[ref] = intent
        if intent.status is ProviderStatus.succeeded:
            return self._payment(ref, intent)
        card = params.get("card_number") or DEFAULT_CARD
        behaviour, message = TEST_CARDS.get(
            card, ("declined", "Your card number is not a sandbox test card.")
        )
        if behaviour == REQUIRES_ACTION:
            answer = params.get("authenticated")
            if answer is None:
                intent.status = ProviderStatus.requires_action
                self._emit("payment_intent.requires_action", self._intent_object(ref, intent))
                return self._payment(ref, intent)
            if answer == "true":
                behaviour = SUCCEEDS
            else:
                behaviour, message = "declined", "Authentication failed. (authentication_required)"
        if behaviour == SUCCEEDS:
            intent.status, intent.failure_reason = ProviderStatus.succeeded, None
            self._emit("payment_intent.succeeded", self._intent_object(ref, intent))
            return self._payment(ref, intent)
        if behaviour == LATE:
            # The buyer is told "processing"; the money shows up later, by webhook only.
            payment = self._payment(ref, intent)
            intent.status = ProviderStatus.succeeded
            self._emit("payment_intent.succeeded", self._intent_object(ref, intent))
            return payment
        intent.status, intent.failure_reason = ProviderStatus.failed, message
        self._emit("payment_intent.payment_failed", self._intent_object(ref, intent))
        return self._payment(ref, intent)

    async def refund(self, ref: str, amount_minor: int, reference: str) -> ProviderRefund:
        intent = self._intents.get(ref)
        if intent is not None and intent.status is not ProviderStatus.succeeded:
            raise ProviderError(f"sandbox: payment {ref} has not succeeded", status_code=400)
        refund_ref = f"sbx_re_{uuid.uuid4().hex}"
        self._emit(
            "refund.updated",
            {
                "id": refund_ref,
                "object": "refund",
                "amount": amount_minor,
                "payment_intent": ref,
                "status": "succeeded",
                "metadata": {"reference": reference},
            },
        )
        return ProviderRefund(
            ref=refund_ref, status=ProviderStatus.succeeded, amount_minor=amount_minor
        )

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        verify_stripe_signature(
            self._secret,
            headers.get("stripe-signature"),
            raw_body,
            tolerance_seconds=self._tolerance,
        )
        return parse_stripe_event(raw_body)
