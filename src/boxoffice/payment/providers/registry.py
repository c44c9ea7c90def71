"""Build the configured provider (`BOXOFFICE_PAYMENT_PROVIDER`)."""

import httpx

from boxoffice.config import PaymentSettings
from boxoffice.payment.providers.base import PaymentProvider
from boxoffice.payment.providers.razorpay import RazorpayProvider
from boxoffice.payment.providers.sandbox import SandboxProvider
from boxoffice.payment.providers.stripe import StripeProvider


class ProviderNotConfigured(RuntimeError):
    """The chosen provider lacks its keys."""


def build_provider(
    settings: PaymentSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> PaymentProvider:
    if settings.provider == "stripe":
        if settings.stripe_secret_key is None or settings.stripe_webhook_secret is None:
            raise ProviderNotConfigured(
                "stripe needs BOXOFFICE_PAYMENT_STRIPE_SECRET_KEY and "
                "BOXOFFICE_PAYMENT_STRIPE_WEBHOOK_SECRET"
            )
        return StripeProvider(
            secret_key=settings.stripe_secret_key.get_secret_value(),
            webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
            api_base=settings.stripe_api_base,
            tolerance_seconds=settings.webhook_tolerance_seconds,
            timeout_seconds=settings.http_timeout_seconds,
            transport=transport,
        )
    if settings.provider == "razorpay":
        if (
            settings.razorpay_key_id is None
            or settings.razorpay_key_secret is None
            or settings.razorpay_webhook_secret is None
        ):
            raise ProviderNotConfigured(
                "razorpay needs BOXOFFICE_PAYMENT_RAZORPAY_KEY_ID, _KEY_SECRET and _WEBHOOK_SECRET"
            )
        return RazorpayProvider(
            key_id=settings.razorpay_key_id,
            key_secret=settings.razorpay_key_secret.get_secret_value(),
            webhook_secret=settings.razorpay_webhook_secret.get_secret_value(),
            api_base=settings.razorpay_api_base,
            timeout_seconds=settings.http_timeout_seconds,
            transport=transport,
        )
    return SandboxProvider(
        webhook_secret=settings.sandbox_webhook_secret.get_secret_value(),
        tolerance_seconds=settings.webhook_tolerance_seconds,
    )
