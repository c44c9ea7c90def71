import json
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest

from boxoffice.payment.providers.base import (
    EventKind,
    InvalidSignature,
    MalformedWebhook,
    ProviderError,
    ProviderStatus,
)
from boxoffice.payment.providers.signing import stripe_signature_header
from boxoffice.payment.providers.stripe import StripeProvider
from tests.payment.fakes import STRIPE_KEY, FakeStripe

WEBHOOK_SECRET = "whsec_test_secret"


def _provider(fake: FakeStripe) -> StripeProvider:
    return StripeProvider(
        secret_key=STRIPE_KEY,
        webhook_secret=WEBHOOK_SECRET,
        api_base="https://api.stripe.test",
        transport=fake.transport(),
    )


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str = "evt_1") -> bytes:
    """An Event in the envelope of https://docs.stripe.com/api/events/object."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1686089970,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
    ).encode()


class TestCreatePayment:
    async def test_creates_an_intent_form_encoded_with_key_and_idempotency_key(self) -> None:
        fake = FakeStripe()

        opened = await _provider(fake).create_payment(
            5000, "USD", reference="pay-1", metadata={"booking_id": "b-1"}
        )

        sent = fake.requests[-1]
        form = dict(parse_qsl(sent.body.decode()))
        assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
        assert sent.headers["idempotency-key"] == "pi-pay-1"
        assert form["amount"] == "5000"
        assert form["currency"] == "usd"
        assert form["metadata[booking_id]"] == "b-1"
        assert form["automatic_payment_methods[enabled]"] == "true"
        assert opened.status is ProviderStatus.pending
        assert opened.client_secret is not None
        assert opened.client_secret.startswith(opened.ref)
        assert (opened.amount_minor, opened.currency) == (5000, "USD")

    async def test_a_retried_create_returns_the_same_intent(self) -> None:
        fake = FakeStripe()
        provider = _provider(fake)

        first = await provider.create_payment(5000, "USD", reference="pay-1", metadata={})
        again = await provider.create_payment(5000, "USD", reference="pay-1", metadata={})

        assert first.ref == again.ref
        assert len(fake.intents) == 1

    async def test_a_bad_key_is_a_provider_error(self) -> None:
        fake = FakeStripe()
        provider = StripeProvider(
            secret_key="sk_test_wrong",
            webhook_secret=WEBHOOK_SECRET,
            api_base="https://api.stripe.test",
            transport=fake.transport(),
        )

        with pytest.raises(ProviderError, match="Invalid API Key") as caught:
            await provider.create_payment(5000, "USD", reference="pay-1", metadata={})
        assert caught.value.status_code == 401


class TestRetrieve:
    @pytest.mark.parametrize(
        ("stripe_status", "expected"),
        [
            ("requires_payment_method", ProviderStatus.pending),
            ("processing", ProviderStatus.pending),
            ("requires_action", ProviderStatus.requires_action),
            ("succeeded", ProviderStatus.succeeded),
            ("canceled", ProviderStatus.cancelled),
        ],
    )
    async def test_maps_intent_statuses(self, stripe_status: str, expected: ProviderStatus) -> None:
        fake = FakeStripe()
        provider = _provider(fake)
        opened = await provider.create_payment(5000, "USD", reference="p", metadata={})
        fake.intents[opened.ref]["status"] = stripe_status

        assert (await provider.retrieve(opened.ref)).status is expected

    async def test_a_declined_attempt_reads_as_failed_with_the_reason(self) -> None:
        fake = FakeStripe()
        provider = _provider(fake)
        opened = await provider.create_payment(5000, "USD", reference="p", metadata={})
        fake.intents[opened.ref]["last_payment_error"] = {
            "code": "card_declined",
            "message": "Your card was declined.",
        }

        seen = await provider.confirm(opened.ref, {})

        assert seen.status is ProviderStatus.failed
        assert seen.failure_reason == "Your card was declined."

    async def test_an_unknown_intent_is_a_provider_error(self) -> None:
        with pytest.raises(ProviderError, match="No such payment_intent"):
            await _provider(FakeStripe()).retrieve("pi_missing")


class TestRefund:
    async def test_refunds_the_intent_with_an_idempotency_key(self) -> None:
        fake = FakeStripe()
        provider = _provider(fake)
        opened = await provider.create_payment(5000, "USD", reference="p", metadata={})

        refund = await provider.refund(opened.ref, 1500, reference="refund-1")

        sent = fake.requests[-1]
        form = dict(parse_qsl(sent.body.decode()))
        assert (sent.path, sent.headers["idempotency-key"]) == ("/v1/refunds", "re-refund-1")
        assert form == {
            "payment_intent": opened.ref,
            "amount": "1500",
            "metadata[reference]": "refund-1",
        }
        assert refund.status is ProviderStatus.succeeded
        assert refund.amount_minor == 1500


class TestWebhook:
    def _signed(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        return {"stripe-signature": stripe_signature_header(WEBHOOK_SECRET, body, timestamp)}

    def test_a_succeeded_intent_event_names_the_payment(self) -> None:
        body = stripe_event(
            "payment_intent.succeeded",
            {
                "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
                "object": "payment_intent",
                "amount": 2000,
                "currency": "usd",
                "status": "succeeded",
                "latest_charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
                "last_payment_error": None,
            },
            event_id="evt_1NG8Du2eZvKYlo2CUI79vXWy",
        )

        event = _provider(FakeStripe()).parse_webhook(self._signed(body), body)

        assert event.event_id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
        assert event.kind is EventKind.payment_succeeded
        assert event.payment_ref == "pi_3MtwBwLkdIwHu7ix28a3tqPa"
        assert (event.amount_minor, event.currency) == (2000, "USD")
        assert event.extra == {"latest_charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa"}

    def test_a_failed_intent_event_carries_the_decline_message(self) -> None:
        body = stripe_event(
            "payment_intent.payment_failed",
            {
                "id": "pi_1",
                "object": "payment_intent",
                "amount": 2000,
                "currency": "usd",
                "status": "requires_payment_method",
                "last_payment_error": {"code": "card_declined", "message": "Declined"},
            },
        )

        event = _provider(FakeStripe()).parse_webhook(self._signed(body), body)

        assert event.kind is EventKind.payment_failed
        assert event.failure_reason == "Declined"

    def test_a_refund_event_names_the_refund(self) -> None:
        body = stripe_event(
            "refund.updated",
            {
                "id": "re_1",
                "object": "refund",
                "amount": 500,
                "currency": "usd",
                "payment_intent": "pi_1",
                "status": "succeeded",
            },
        )

        event = _provider(FakeStripe()).parse_webhook(self._signed(body), body)

        assert (event.kind, event.refund_ref, event.payment_ref) == (
            EventKind.refund_succeeded,
            "re_1",
            "pi_1",
        )

    def test_other_event_types_are_ignored(self) -> None:
        body = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

        event = _provider(FakeStripe()).parse_webhook(self._signed(body), body)

        assert event.kind is EventKind.ignored

    def test_an_old_signature_is_refused(self) -> None:
        body = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

        with pytest.raises(InvalidSignature):
            _provider(FakeStripe()).parse_webhook(
                self._signed(body, timestamp=int(time.time()) - 301), body
            )

    def test_a_signed_body_that_is_not_an_event_is_malformed(self) -> None:
        body = b"this is not valid JSON"

        with pytest.raises(MalformedWebhook):
            _provider(FakeStripe()).parse_webhook(self._signed(body), body)
