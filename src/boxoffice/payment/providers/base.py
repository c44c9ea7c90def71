"""What every payment provider offers, in provider-neutral terms.

Amounts are integer minor units and currencies upper-case ISO 4217 on this side of the
interface; each provider converts to its own conventions (Stripe wants lower-case currency
codes, Razorpay amounts in paise).
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


class ProviderStatus(enum.StrEnum):
    """Where a payment stands at the provider."""

    pending = "pending"
    """Created, waiting for the buyer (or, for late payments, for the provider)."""
    requires_action = "requires_action"
    """The buyer must authenticate (3-D Secure) before it can go on."""
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class EventKind(enum.StrEnum):
    payment_succeeded = "payment_succeeded"
    payment_failed = "payment_failed"
    payment_requires_action = "payment_requires_action"
    payment_cancelled = "payment_cancelled"
    refund_succeeded = "refund_succeeded"
    refund_failed = "refund_failed"
    ignored = "ignored"
    """A verified event this system does not act on (recorded, then left alone)."""


class InvalidSignature(Exception):
    """A webhook or checkout signature did not verify (or was missing, or too old)."""


class MalformedWebhook(Exception):
    """A correctly signed webhook whose body is not the JSON this provider sends."""


class ProviderError(Exception):
    """The provider refused a call or could not be reached."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def json_answer(provider: str, response: httpx.Response, message_key: str) -> dict[str, Any]:
    """A provider API's JSON answer, or `ProviderError` with its error text (found under
    `error.<message_key>`) when it refused."""
    body: dict[str, Any] = response.json() if response.content else {}
    if response.status_code >= 400:
        error = body.get("error") or {}
        raise ProviderError(
            f"{provider}: {error.get(message_key) or response.reason_phrase}",
            status_code=response.status_code,
        )
    return body


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    ref: str
    """The provider's id for this payment: PaymentIntent id, Razorpay order id, ..."""
    status: ProviderStatus
    amount_minor: int
    currency: str
    client_secret: str | None = None
    """What the client needs to complete the payment (Stripe client secret)."""
    failure_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Provider-specific details kept for reconciliation (charge id, payment id, ...)."""


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    ref: str
    status: ProviderStatus
    """pending, succeeded or failed."""
    amount_minor: int


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified provider event, normalised."""

    event_id: str
    event_type: str
    """The provider's own type name (`payment_intent.succeeded`, `payment.captured`, ...)."""
    kind: EventKind
    payment_ref: str | None
    refund_ref: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    failure_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    async def create_payment(
        self, amount_minor: int, currency: str, reference: str, metadata: Mapping[str, str]
    ) -> ProviderPayment:
        """Open a payment at the provider; `reference` doubles as the idempotency key."""
        ...

    async def retrieve(self, ref: str) -> ProviderPayment:
        """The provider's current view of a payment."""
        ...

    async def confirm(self, ref: str, params: Mapping[str, str]) -> ProviderPayment:
        """The provider's verdict after the client says it completed the payment."""
        ...

    async def refund(self, ref: str, amount_minor: int, reference: str) -> ProviderRefund:
        """Give back `amount_minor` of a succeeded payment."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        """Verify the signature over the raw body, then normalise; raise InvalidSignature."""
        ...
