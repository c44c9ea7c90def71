"""HMAC-SHA256 signatures: Stripe's `t=...,v1=...` header scheme and plain hex digests.

The Stripe scheme itself lives in `boxoffice.kit.signing` (boxoffice's own webhooks use it
too); here it answers with the payment domain's `InvalidSignature`. The sandbox signs with the
same scheme so its webhooks go through the same verification code as Stripe's.
"""

import hmac

from boxoffice.kit.signing import (
    SignatureMismatch,
    hmac_sha256_hex,
    signature_header,
    verify_signature_header,
)
from boxoffice.payment.providers.base import InvalidSignature


def verify_hex_signature(secret: str, message: bytes, signature: str) -> None:
    """Constant-time check of a hex HMAC-SHA256; raise InvalidSignature on mismatch."""
    expected = hmac_sha256_hex(secret, message)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise InvalidSignature("signature does not match")


def stripe_signature_header(secret: str, raw_body: bytes, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value for `raw_body` (what the sandbox sends)."""
    return signature_header(secret, raw_body, timestamp)


def verify_stripe_signature(
    secret: str,
    header: str | None,
    raw_body: bytes,
    *,
    tolerance_seconds: int,
    now: float | None = None,
) -> int:
    """Verify a `Stripe-Signature` header; return its timestamp or raise InvalidSignature."""
    try:
        return verify_signature_header(
            secret, header, raw_body, tolerance_seconds=tolerance_seconds, now=now
        )
    except SignatureMismatch as exc:
        raise InvalidSignature(str(exc)) from exc
