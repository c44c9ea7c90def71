"""Timestamped HMAC-SHA256 signatures in the `t=<unix>,v1=<hex>` header scheme.

Each `v1` is the hex HMAC-SHA256 of `"{t}.{raw body}"` (Stripe's scheme, see
https://docs.stripe.com/webhooks#verify-manually). Stripe's webhooks, the payment sandbox's
and boxoffice's own outgoing webhooks all use it, so it is written once, here.
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence


class SignatureMismatch(Exception):
    """The header is missing, malformed, stale, or signs another body or secret."""


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def hmac_sha256_b64url(key: bytes, message: str, *, length: int | None = None) -> str:
    """HMAC-SHA256 of `message` as unpadded URL-safe base64, its first `length` bytes if
    given: the signature of the tokens and codes boxoffice hands out (ticket codes, transfer
    offers, account tokens). Compare with `hmac.compare_digest`."""
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:length]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signature_header(
    secret: str, body: bytes, timestamp: int | None = None, *, also: Sequence[str] = ()
) -> str:
    """The `t=...,v1=...` header value for `body` signed at `timestamp` (default: now);
    one more `v1` for each secret in `also` (a secret being rolled)."""
    t = int(time.time()) if timestamp is None else timestamp
    message = f"{t}.".encode() + body
    return ",".join([f"t={t}", *(f"v1={hmac_sha256_hex(s, message)}" for s in (secret, *also))])


def verify_signature_header(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_seconds: int,
    now: float | None = None,
) -> int:
    """Check a `t=...,v1=...` header against `body`; return its timestamp or raise.

    Several `v1` entries are accepted (a secret being rolled); other schemes are ignored.
    """
    if not header:
        raise SignatureMismatch("missing signature header")
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
                raise SignatureMismatch("timestamp is not an integer") from exc
        elif key == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None:
        raise SignatureMismatch("no timestamp in signature header")
    if not signatures:
        raise SignatureMismatch("no v1 signature in signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureMismatch("timestamp outside the tolerance")
    expected = hmac_sha256_hex(secret, f"{timestamp}.".encode() + body)
    # Compare against every candidate, without stopping early, so timing says nothing.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureMismatch("no signature matches the payload")
    return timestamp
