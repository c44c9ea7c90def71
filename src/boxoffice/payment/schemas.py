import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from boxoffice.payment import models
from boxoffice.payment.models import PaymentStatus, RefundStatus


class Refund(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    amount_minor: int
    currency: str
    status: RefundStatus
    reason: str
    provider_ref: str | None
    initiated_by: uuid.UUID | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime


class Payment(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    booking_id: uuid.UUID
    user_id: uuid.UUID
    provider: str
    provider_ref: str = Field(description="Stripe PaymentIntent id, Razorpay order id, ...")
    amount_minor: int
    currency: str
    status: PaymentStatus
    refunded_minor: int
    failure_reason: str | None
    succeeded_at: datetime | None
    failed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    refunds: list[Refund] = Field(default_factory=list)


class PaymentConfirm(BaseModel):
    """What the client hands back after paying. Its own opinion of the outcome (seed 000's
    `status`) is not trusted and not needed: the provider is asked."""

    model_config = ConfigDict(extra="ignore")

    payment_id: uuid.UUID
    card_number: str | None = Field(
        default=None,
        pattern=r"^\d{12,19}$",
        description="Sandbox only: the test card to pay with (default 4242424242424242)",
    )
    authenticated: bool | None = Field(
        default=None, description="Sandbox only: outcome of the 3-D Secure challenge"
    )
    razorpay_payment_id: str | None = Field(default=None, max_length=64)
    razorpay_signature: str | None = Field(default=None, max_length=128)

    def provider_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.card_number:
            params["card_number"] = self.card_number
        if self.authenticated is not None:
            params["authenticated"] = "true" if self.authenticated else "false"
        if self.razorpay_payment_id:
            params["razorpay_payment_id"] = self.razorpay_payment_id
        if self.razorpay_signature:
            params["razorpay_signature"] = self.razorpay_signature
        return params


class RefundCreate(BaseModel):
    amount_minor: int | None = Field(
        default=None, ge=1, le=10**12, description="Omitted: everything not yet refunded"
    )
    reason: str = Field(default="", max_length=500)


class WebhookReceipt(BaseModel):
    received: bool = True
    duplicate: bool
    outcome: str = Field(description="applied, unchanged, ignored, amount_mismatch, duplicate")
    payment_id: uuid.UUID | None = None


def payment_out(payment: models.Payment, refunds: Sequence[models.Refund]) -> Payment:
    out = Payment.model_validate(payment)
    out.refunds = [Refund.model_validate(r) for r in refunds]
    return out


class PaymentInitiate(BaseModel):
    """Seed 000's body. The amount is always the booking's; a client amount that differs is
    refused (422 `amount_mismatch`). `amount` is in major units (`12.50`), `amount_minor` in
    minor units (`1250`)."""

    model_config = ConfigDict(extra="ignore")

    booking_id: uuid.UUID
    amount_minor: int | None = Field(default=None, ge=0, le=10**12)
    amount: Decimal | None = Field(default=None, ge=0, le=10**10, max_digits=16)
    currency: str | None = Field(default=None, min_length=3, max_length=3)


class PaymentInitiated(BaseModel):
    payment: Payment
    provider: str
    client_secret: str | None = Field(
        default=None, description="Stripe/sandbox: hand to the client SDK to complete the payment"
    )
    order_id: str | None = Field(
        default=None, description="Razorpay: the order to open Checkout on"
    )


class BookingRefund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_ids: list[uuid.UUID] | None = Field(
        default=None, min_length=1, max_length=100, description="Omitted: every live ticket"
    )
    reason: str = Field(default="", max_length=500)
