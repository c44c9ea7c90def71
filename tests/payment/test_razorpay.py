import base64
import json
from pathlib import Path

import pytest

from boxoffice.kit.signing import hmac_sha256_hex
from boxoffice.payment.providers.base import EventKind, InvalidSignature, ProviderStatus
from boxoffice.payment.providers.razorpay import RazorpayProvider
from tests.payment.fakes import RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, FakeRazorpay

# razorpay-python signs its test webhooks with the key secret (tests/helpers.py:
# Client(auth=("key_id", "key_secret"))), so the webhook secret here is that same string.
WEBHOOK_SECRET = RAZORPAY_KEY_SECRET

# From razorpay-python, tests/test_client_utility.py: the checkout signature of
# order "fake_order_id" / payment "fake_payment_id" with key secret "key_secret" ...
DOCUMENTED_PAYMENT_SIGNATURE = "b2335e3b0801106b84a7faff035df56ecffde06918c9ddd1f0fafbb37a51cc89"
# ... and the webhook signature of tests/mocks/fake_payment_authorized_webhook.json (copied
# byte for byte to tests/payment/data/) with the same secret.
DOCUMENTED_WEBHOOK_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"
DOCUMENTED_WEBHOOK_BODY = (
    Path(__file__).parent / "data" / "razorpay_payment_authorized_webhook.json"
).read_bytes()


def _provider(fake: FakeRazorpay | None = None) -> RazorpayProvider:
    return RazorpayProvider(
        key_id=RAZORPAY_KEY_ID,
        key_secret=RAZORPAY_KEY_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        api_base="https://api.razorpay.test",
        transport=(fake or FakeRazorpay()).transport(),
    )


def razorpay_webhook(event: str, entity_name: str, entity: dict[str, object]) -> bytes:
    """A webhook body in the shape of https://razorpay.com/docs/webhooks/payloads/."""
    return json.dumps(
        {
            "entity": "event",
            "account_id": "acc_BFQ7uQEaa7j2z7",
            "event": event,
            "contains": [entity_name],
            "payload": {entity_name: {"entity": entity}},
            "created_at": 1567674606,
        }
    ).encode()


class TestCheckoutSignature:
    def test_the_documented_signature_verifies(self) -> None:
        _provider().verify_checkout_signature(
            "fake_order_id", "fake_payment_id", DOCUMENTED_PAYMENT_SIGNATURE
        )

    def test_another_signature_is_refused(self) -> None:
        with pytest.raises(InvalidSignature):
            _provider().verify_checkout_signature(
                "fake_order_id", "fake_payment_id", "test_signature"
            )

    async def test_confirm_needs_a_valid_signature(self) -> None:
        fake = FakeRazorpay()
        provider = _provider(fake)
        order = await provider.create_payment(50000, "INR", reference="p", metadata={})

        with pytest.raises(InvalidSignature):
            await provider.confirm(
                order.ref, {"razorpay_payment_id": "pay_1", "razorpay_signature": "00" * 32}
            )

    async def test_confirm_with_a_valid_signature_is_a_success(self) -> None:
        fake = FakeRazorpay()
        provider = _provider(fake)
        order = await provider.create_payment(50000, "INR", reference="p", metadata={})
        signature = hmac_sha256_hex(RAZORPAY_KEY_SECRET, f"{order.ref}|pay_1".encode())

        verdict = await provider.confirm(
            order.ref, {"razorpay_payment_id": "pay_1", "razorpay_signature": signature}
        )

        assert verdict.status is ProviderStatus.succeeded
        assert verdict.extra == {"razorpay_payment_id": "pay_1"}


class TestWebhookSignature:
    def test_the_documented_webhook_verifies_and_is_only_recorded(self) -> None:
        event = _provider().parse_webhook(
            {
                "x-razorpay-signature": DOCUMENTED_WEBHOOK_SIGNATURE,
                "x-razorpay-event-id": "KQv5R1Xy2Yz3Ab",
            },
            DOCUMENTED_WEBHOOK_BODY,
        )

        assert event.event_id == "KQv5R1Xy2Yz3Ab"
        assert event.event_type == "payment.authorized"
        assert event.kind is EventKind.ignored
        assert event.payment_ref == "order_100000000order"

    def test_a_changed_body_is_refused(self) -> None:
        with pytest.raises(InvalidSignature):
            _provider().parse_webhook(
                {"x-razorpay-signature": DOCUMENTED_WEBHOOK_SIGNATURE},
                DOCUMENTED_WEBHOOK_BODY.replace(b"1000000", b"1"),
            )

    def test_a_missing_signature_is_refused(self) -> None:
        with pytest.raises(InvalidSignature):
            _provider().parse_webhook({}, DOCUMENTED_WEBHOOK_BODY)

    def test_without_an_event_id_the_body_hash_dedupes(self) -> None:
        headers = {"x-razorpay-signature": DOCUMENTED_WEBHOOK_SIGNATURE}

        first = _provider().parse_webhook(headers, DOCUMENTED_WEBHOOK_BODY)
        again = _provider().parse_webhook(headers, DOCUMENTED_WEBHOOK_BODY)

        assert first.event_id == again.event_id
        assert first.event_id.startswith("sha256:")

    def test_a_captured_payment_names_its_order(self) -> None:
        body = razorpay_webhook(
            "payment.captured",
            "payment",
            {
                "id": "pay_DESlfW9H8K9uqM",
                "entity": "payment",
                "amount": 50000,
                "currency": "INR",
                "status": "captured",
                "order_id": "order_DESlLckIVRkHWj",
            },
        )
        headers = {"x-razorpay-signature": hmac_sha256_hex(WEBHOOK_SECRET, body)}

        event = _provider().parse_webhook(headers, body)

        assert event.kind is EventKind.payment_succeeded
        assert event.payment_ref == "order_DESlLckIVRkHWj"
        assert (event.amount_minor, event.currency) == (50000, "INR")
        assert event.extra == {"razorpay_payment_id": "pay_DESlfW9H8K9uqM"}

    def test_a_processed_refund_names_the_refund(self) -> None:
        body = razorpay_webhook(
            "refund.processed",
            "refund",
            {"id": "rfnd_1", "entity": "refund", "amount": 100, "payment_id": "pay_1"},
        )
        headers = {"x-razorpay-signature": hmac_sha256_hex(WEBHOOK_SECRET, body)}

        event = _provider().parse_webhook(headers, body)

        assert (event.kind, event.refund_ref) == (EventKind.refund_succeeded, "rfnd_1")


class TestOrdersApi:
    async def test_creates_an_order_in_paise_with_basic_auth(self) -> None:
        fake = FakeRazorpay()
        reference = "8f14e45f-ceea-467f-a2b5-0c1e2d3f4a5b-extra-long"

        order = await _provider(fake).create_payment(
            50000, "INR", reference=reference, metadata={"booking_id": "b-1"}
        )

        sent = fake.requests[-1]
        body = json.loads(sent.body)
        credentials = base64.b64encode(b"key_id:key_secret").decode()
        assert sent.headers["authorization"] == f"Basic {credentials}"
        assert body["amount"] == 50000
        assert body["currency"] == "INR"
        assert body["receipt"] == reference[:40]
        assert body["notes"] == {"reference": reference, "booking_id": "b-1"}
        assert order.ref.startswith("order_")
        assert order.status is ProviderStatus.pending

    async def test_a_paid_order_reads_as_succeeded(self) -> None:
        fake = FakeRazorpay()
        provider = _provider(fake)
        order = await provider.create_payment(50000, "INR", reference="p", metadata={})
        fake.orders[order.ref]["status"] = "paid"

        assert (await provider.retrieve(order.ref)).status is ProviderStatus.succeeded

    async def test_refunds_the_captured_payment_of_the_order(self) -> None:
        fake = FakeRazorpay()
        provider = _provider(fake)
        order = await provider.create_payment(50000, "INR", reference="p", metadata={})
        fake.captured[order.ref] = "pay_FIKOnlyii5QGNx"

        refund = await provider.refund(order.ref, 30000, reference="refund-1")

        sent = fake.requests[-1]
        assert sent.path == "/v1/payments/pay_FIKOnlyii5QGNx/refund"
        assert json.loads(sent.body)["amount"] == 30000
        assert (refund.ref, refund.status) == ("rfnd_FP8DDKxqJif6ca", ProviderStatus.succeeded)
