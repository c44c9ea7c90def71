import time

import pytest

from boxoffice.kit.signing import hmac_sha256_hex
from boxoffice.payment.providers.base import InvalidSignature
from boxoffice.payment.providers.signing import (
    stripe_signature_header,
    verify_hex_signature,
    verify_stripe_signature,
)

# Payload and secret of stripe-python's own webhook tests
# (github.com/stripe/stripe-python, tests/test_webhook.py: DUMMY_WEBHOOK_PAYLOAD/_SECRET),
# which build headers exactly as https://docs.stripe.com/webhooks#verify-manually describes.
STRIPE_PAYLOAD = b"""{
  "id": "evt_test_webhook",
  "object": "event",
  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }
}"""
STRIPE_SECRET = "whsec_test_secret"

# The header example shown in Stripe's docs (https://docs.stripe.com/webhooks, "Verify
# webhook signatures manually"); its secret is not published, so it can only fail to verify.
STRIPE_DOCS_HEADER = (
    "t=1492774577,"
    "v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,"
    "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
)


def _header(timestamp: int, signature: str | None = None, scheme: str = "v1") -> str:
    if signature is None:
        signature = hmac_sha256_hex(STRIPE_SECRET, f"{timestamp}.".encode() + STRIPE_PAYLOAD)
    return f"t={timestamp},{scheme}={signature}"


class TestStripeSignature:
    def test_a_header_signed_with_the_secret_verifies(self) -> None:
        now = int(time.time())
        assert (
            verify_stripe_signature(
                STRIPE_SECRET, _header(now), STRIPE_PAYLOAD, tolerance_seconds=300
            )
            == now
        )

    def test_one_good_signature_among_several_v1_entries_is_enough(self) -> None:
        header = _header(int(time.time())) + ",v1=bad_signature"
        verify_stripe_signature(STRIPE_SECRET, header, STRIPE_PAYLOAD, tolerance_seconds=300)

    def test_only_v0_signatures_are_refused(self) -> None:
        with pytest.raises(InvalidSignature, match="no v1"):
            verify_stripe_signature(
                STRIPE_SECRET,
                _header(int(time.time()), scheme="v0"),
                STRIPE_PAYLOAD,
                tolerance_seconds=300,
            )

    def test_a_wrong_signature_is_refused(self) -> None:
        with pytest.raises(InvalidSignature, match="no signature matches"):
            verify_stripe_signature(
                STRIPE_SECRET,
                _header(int(time.time()), signature="bad_signature"),
                STRIPE_PAYLOAD,
                tolerance_seconds=300,
            )

    def test_a_changed_body_is_refused(self) -> None:
        with pytest.raises(InvalidSignature):
            verify_stripe_signature(
                STRIPE_SECRET,
                _header(int(time.time())),
                STRIPE_PAYLOAD.replace(b"rdr_123", b"rdr_999"),
                tolerance_seconds=300,
            )

    def test_a_timestamp_outside_the_tolerance_is_refused(self) -> None:
        with pytest.raises(InvalidSignature, match="tolerance"):
            verify_stripe_signature(
                STRIPE_SECRET,
                _header(int(time.time()) - 15),
                STRIPE_PAYLOAD,
                tolerance_seconds=10,
            )

    @pytest.mark.parametrize("header", ["bad_header", "", "t=abc,v1=00", "v1=00"])
    def test_a_malformed_header_is_refused(self, header: str) -> None:
        with pytest.raises(InvalidSignature):
            verify_stripe_signature(STRIPE_SECRET, header, STRIPE_PAYLOAD, tolerance_seconds=300)

    def test_the_documented_header_parses_but_does_not_verify_with_another_secret(self) -> None:
        with pytest.raises(InvalidSignature, match="no signature matches"):
            verify_stripe_signature(
                STRIPE_SECRET,
                STRIPE_DOCS_HEADER,
                STRIPE_PAYLOAD,
                tolerance_seconds=300,
                now=1492774577,
            )

    def test_headers_we_sign_verify(self) -> None:
        header = stripe_signature_header(STRIPE_SECRET, STRIPE_PAYLOAD)
        verify_stripe_signature(STRIPE_SECRET, header, STRIPE_PAYLOAD, tolerance_seconds=1)


class TestHexSignature:
    def test_upper_case_hex_is_accepted(self) -> None:
        signature = hmac_sha256_hex("secret", b"body").upper()
        verify_hex_signature("secret", b"body", signature)

    def test_a_wrong_signature_is_refused(self) -> None:
        with pytest.raises(InvalidSignature):
            verify_hex_signature("secret", b"body", "00" * 32)
