"""HMAC-SHA256 signatures: Stripe's `t=...,v1=...` header scheme and plain hex digests.

The Stripe scheme (https://docs.stripe.com/webhooks#verify-manually): the header carries a
timestamp `t` and one or more `v1` signatures (several while a secret is being rolled);
each `v1` is the hex HMAC-SHA256 of `"{t}.{raw body}"` with the endpoint secret. Other
schemes (`v0`) are ignored. The sandbox signs with the same scheme so its webhooks go through
the same verification code as Stripe's.
"""

import hashlib
import hmac
import time

from boxoffice.payment.providers.base import InvalidSignature


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_hex_signature(secret: str, message: bytes, signature: str) -> None:
    """Constant-time check of a hex HMAC-SHA256; raise InvalidSignature on mismatch."""
    expected = hmac_sha256_hex(secret, message)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise InvalidSignature("signature does not match")


def stripe_signature_header(secret: str, raw_body: bytes, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value for `raw_body` (what the sandbox sends)."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac_sha256_hex(secret, f"{t}.".encode() + raw_body)
    return f"t={t},v1={signature}"


def verify_stripe_signature(
    secret: str,
    header: str | None,
    raw_body: bytes,
    *,
    tolerance_seconds: int,
    now: float | None = None,
) -> int:
    """Verify a `Stripe-Signature` header; return its timestamp or raise InvalidSignature."""
    if not header:
        raise InvalidSignature("missing signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise InvalidSignature("timestamp is not an integer") from exc
        elif key == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None:
        raise InvalidSignature("no timestamp in signature header")
    if not signatures:
        raise InvalidSignature("no v1 signature in signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidSignature("timestamp outside the tolerance")
    expected = hmac_sha256_hex(secret, f"{timestamp}.".encode() + raw_body)
    # Compare against every candidate, without stopping early, so timing says nothing.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignature("no signature matches the payload")
    return timestamp
