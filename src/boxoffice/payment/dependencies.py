"""The configured payment provider, one per app (tests put their own on `app.state`)."""

from typing import Annotated

from fastapi import Depends, Request

from boxoffice.config import Settings
from boxoffice.payment.errors import PaymentProviderNotConfigured
from boxoffice.payment.providers.base import PaymentProvider
from boxoffice.payment.providers.registry import ProviderNotConfigured, build_provider


def get_payment_provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider | None = getattr(request.app.state, "payment_provider", None)
    if provider is None:
        settings: Settings = request.app.state.settings
        try:
            provider = build_provider(settings.payment)
        except ProviderNotConfigured as exc:
            raise PaymentProviderNotConfigured(str(exc)) from exc
        request.app.state.payment_provider = provider
    return provider


Provider = Annotated[PaymentProvider, Depends(get_payment_provider)]
