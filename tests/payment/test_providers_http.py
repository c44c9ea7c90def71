from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.config import Settings
from boxoffice.kit.signing import hmac_sha256_hex
from boxoffice.payment.providers.razorpay import RazorpayProvider
from boxoffice.payment.providers.signing import stripe_signature_header
from boxoffice.payment.providers.stripe import StripeProvider
from tests.factories import bearer, create_user
from tests.payment.factories import create_payment
from tests.payment.fakes import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    STRIPE_KEY,
    FakeRazorpay,
    FakeStripe,
)
from tests.payment.test_razorpay import razorpay_webhook
from tests.payment.test_stripe import WEBHOOK_SECRET as STRIPE_WEBHOOK_SECRET
from tests.payment.test_stripe import stripe_event

RAZORPAY_WEBHOOK_SECRET = "razorpay_webhook_secret"


class TestStripeOverHttp:
    async def test_a_signed_succeeded_event_completes_the_payment(
        self, app: FastAPI, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        stripe = StripeProvider(
            secret_key=STRIPE_KEY,
            webhook_secret=STRIPE_WEBHOOK_SECRET,
            api_base="https://api.stripe.test",
            transport=FakeStripe().transport(),
        )
        app.state.payment_provider = stripe
        buyer = await create_user(session)
        payment = await create_payment(session, stripe, user=buyer, amount_minor=2000)
        body = stripe_event(
            "payment_intent.succeeded",
            {
                "id": payment.provider_ref,
                "object": "payment_intent",
                "amount": 2000,
                "currency": "usd",
                "status": "succeeded",
                "latest_charge": "ch_1",
            },
            event_id="evt_stripe_1",
        )

        response = await client.post(
            "/api/payments/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": stripe_signature_header(STRIPE_WEBHOOK_SECRET, body)},
        )
        seen = await client.get(f"/api/payments/{payment.id}", headers=bearer(settings, buyer))

        assert response.json()["outcome"] == "applied"
        assert seen.json()["status"] == "succeeded"
        await session.refresh(payment)
        assert payment.provider_event_ids == ["evt_stripe_1"]
        assert payment.meta["latest_charge"] == "ch_1"


class TestRazorpayOverHttp:
    def _provider(self, app: FastAPI) -> RazorpayProvider:
        provider = RazorpayProvider(
            key_id=RAZORPAY_KEY_ID,
            key_secret=RAZORPAY_KEY_SECRET,
            webhook_secret=RAZORPAY_WEBHOOK_SECRET,
            api_base="https://api.razorpay.test",
            transport=FakeRazorpay().transport(),
        )
        app.state.payment_provider = provider
        return provider

    async def test_the_checkout_signature_confirms_the_order(
        self, app: FastAPI, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        razorpay = self._provider(app)
        buyer = await create_user(session)
        payment = await create_payment(
            session, razorpay, user=buyer, amount_minor=50000, currency="INR"
        )
        signature = hmac_sha256_hex(
            RAZORPAY_KEY_SECRET, f"{payment.provider_ref}|pay_29QQoUBi66xm2f".encode()
        )

        response = await client.post(
            "/api/payments/confirm",
            json={
                "payment_id": str(payment.id),
                "razorpay_payment_id": "pay_29QQoUBi66xm2f",
                "razorpay_signature": signature,
            },
            headers=bearer(settings, buyer),
        )

        assert response.json()["status"] == "succeeded"
        await session.refresh(payment)
        assert payment.meta["razorpay_payment_id"] == "pay_29QQoUBi66xm2f"

    async def test_a_forged_checkout_signature_is_refused(
        self, app: FastAPI, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        razorpay = self._provider(app)
        buyer = await create_user(session)
        payment = await create_payment(
            session, razorpay, user=buyer, amount_minor=50000, currency="INR"
        )

        response = await client.post(
            "/api/payments/confirm",
            json={
                "payment_id": str(payment.id),
                "razorpay_payment_id": "pay_29QQoUBi66xm2f",
                "razorpay_signature": "0" * 64,
            },
            headers=bearer(settings, buyer),
        )

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"

    async def test_a_captured_webhook_is_deduplicated_by_its_event_id(
        self, app: FastAPI, client: AsyncClient, session: AsyncSession
    ) -> None:
        razorpay = self._provider(app)
        buyer = await create_user(session)
        payment = await create_payment(
            session, razorpay, user=buyer, amount_minor=50000, currency="INR"
        )
        body = razorpay_webhook(
            "payment.captured",
            "payment",
            {
                "id": "pay_29QQoUBi66xm2f",
                "entity": "payment",
                "amount": 50000,
                "currency": "INR",
                "status": "captured",
                "order_id": payment.provider_ref,
            },
        )
        headers = {
            "X-Razorpay-Signature": hmac_sha256_hex(RAZORPAY_WEBHOOK_SECRET, body),
            "X-Razorpay-Event-Id": "KQv5R1Xy2Yz3Ab",
        }

        first = await client.post("/api/payments/webhooks/razorpay", content=body, headers=headers)
        again = await client.post("/api/payments/webhooks/razorpay", content=body, headers=headers)

        assert first.json()["outcome"] == "applied"
        assert again.json()["duplicate"] is True
        await session.refresh(payment)
        assert payment.status == "succeeded"
