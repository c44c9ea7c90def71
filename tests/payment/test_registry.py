import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr

from boxoffice.config import PaymentSettings
from boxoffice.payment.providers.razorpay import RazorpayProvider
from boxoffice.payment.providers.registry import ProviderNotConfigured, build_provider
from boxoffice.payment.providers.sandbox import SandboxProvider
from boxoffice.payment.providers.stripe import StripeProvider


class TestBuildProvider:
    def test_the_default_is_the_sandbox(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("BOXOFFICE_PAYMENT_PROVIDER", raising=False)

        assert isinstance(build_provider(PaymentSettings()), SandboxProvider)

    def test_stripe_with_its_keys(self) -> None:
        settings = PaymentSettings(
            provider="stripe",
            stripe_secret_key=SecretStr("sk_test_x"),
            stripe_webhook_secret=SecretStr("whsec_x"),
        )

        assert isinstance(build_provider(settings), StripeProvider)

    def test_razorpay_with_its_keys(self) -> None:
        settings = PaymentSettings(
            provider="razorpay",
            razorpay_key_id="rzp_test_x",
            razorpay_key_secret=SecretStr("secret"),
            razorpay_webhook_secret=SecretStr("hook"),
        )

        assert isinstance(build_provider(settings), RazorpayProvider)

    @pytest.mark.parametrize("provider", ["stripe", "razorpay"])
    def test_a_provider_without_keys_is_refused(self, provider: str) -> None:
        with pytest.raises(ProviderNotConfigured):
            build_provider(PaymentSettings(provider=provider))

    def test_the_environment_selects_the_provider(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BOXOFFICE_PAYMENT_PROVIDER", "razorpay")

        assert PaymentSettings().provider == "razorpay"


class TestUnconfiguredProviderOverHttp:
    async def test_a_webhook_to_an_unconfigured_provider_is_a_503(
        self, app: FastAPI, client: AsyncClient
    ) -> None:
        app.state.settings = app.state.settings.model_copy(
            update={"payment": PaymentSettings(provider="stripe")}
        )

        response = await client.post("/api/payments/webhooks/stripe", content=b"{}")

        assert response.status_code == 503
        assert response.json()["code"] == "payment_provider_not_configured"
