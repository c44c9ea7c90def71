import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.payment import refunds, service, webhooks
from boxoffice.payment.errors import (
    AmountMismatch,
    CurrencyMismatch,
    IllegalPaymentTransition,
    PaymentNotRefundable,
    RefundExceedsPayment,
)
from boxoffice.payment.models import PaymentStatus, RefundStatus
from boxoffice.payment.providers.sandbox import SandboxProvider
from boxoffice.payment.providers.signing import stripe_signature_header
from boxoffice.payment.providers.stripe import StripeProvider
from tests.factories import create_user
from tests.payment.factories import create_booking, create_payment
from tests.payment.fakes import STRIPE_KEY, FakeStripe
from tests.payment.test_stripe import WEBHOOK_SECRET, stripe_event


async def _topic_count(session: AsyncSession, topic: Topic) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == topic.value)
        )
        or 0
    )


class TestAmountCheck:
    def test_the_amount_due_passes(self) -> None:
        service.ensure_amount_matches(15000, "USD", 15000, "usd")

    def test_no_client_amount_passes(self) -> None:
        service.ensure_amount_matches(15000, "USD", None)

    def test_another_amount_is_refused_with_the_amount_due(self) -> None:
        with pytest.raises(AmountMismatch) as caught:
            service.ensure_amount_matches(15000, "USD", 14999)
        assert caught.value.status == 422
        assert caught.value.code == "amount_mismatch"
        assert caught.value.extra == {"amount_due_minor": 15000, "currency": "USD"}

    def test_another_currency_is_refused(self) -> None:
        with pytest.raises(CurrencyMismatch):
            service.ensure_amount_matches(15000, "USD", 15000, "EUR")

    async def test_initiate_refuses_a_mismatch_before_calling_the_provider(
        self, session: AsyncSession
    ) -> None:
        sandbox = SandboxProvider(webhook_secret="s")
        buyer = await create_user(session)

        with pytest.raises(AmountMismatch):
            await service.initiate(
                session,
                sandbox,
                booking_id=uuid.uuid4(),
                user_id=buyer.id,
                amount_due_minor=15000,
                currency="USD",
                client_amount_minor=100,
            )
        assert sandbox.emitted == []


class TestTransitions:
    async def test_a_booking_can_have_several_attempts(self, session: AsyncSession) -> None:
        sandbox = SandboxProvider(webhook_secret="s")
        buyer = await create_user(session)
        booking_id = (await create_booking(session, user=buyer)).id

        first = await create_payment(session, sandbox, user=buyer, booking_id=booking_id)
        await service.fail(session, first, "declined")
        second = await create_payment(session, sandbox, user=buyer, booking_id=booking_id)

        assert first.status is PaymentStatus.failed
        assert second.status is PaymentStatus.initiated
        assert first.provider_ref != second.provider_ref

    async def test_succeeding_twice_changes_once(self, session: AsyncSession) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, SandboxProvider(webhook_secret="s"), user=buyer)

        assert await service.succeed(session, payment) is True
        assert await service.succeed(session, payment) is False
        assert [h["to"] for h in payment.meta["history"]] == ["initiated", "succeeded"]

    async def test_a_succeeded_payment_cannot_fail(self, session: AsyncSession) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, SandboxProvider(webhook_secret="s"), user=buyer)
        await service.succeed(session, payment)

        with pytest.raises(IllegalPaymentTransition):
            await service.fail(session, payment, "late decline")

    async def test_a_cancelled_payment_cannot_succeed(self, session: AsyncSession) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, SandboxProvider(webhook_secret="s"), user=buyer)
        await service.cancel(session, payment)

        with pytest.raises(IllegalPaymentTransition):
            await service.succeed(session, payment)

    async def test_a_failure_is_announced_once(self, session: AsyncSession) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, SandboxProvider(webhook_secret="s"), user=buyer)

        await service.fail(session, payment, "declined")
        await service.fail(session, payment, "declined")

        assert await _topic_count(session, Topic.payment_failed) == 1


class TestRefunds:
    async def test_a_partial_refund_is_recorded_and_announced(self, session: AsyncSession) -> None:
        sandbox = SandboxProvider(webhook_secret="s")
        buyer = await create_user(session)
        admin = await create_user(session, role=Role.admin)
        payment = await create_payment(session, sandbox, user=buyer, amount_minor=5000)
        await sandbox.confirm(payment.provider_ref, {})
        await service.succeed(session, payment)

        refund = await refunds.refund(
            session,
            sandbox,
            payment.id,
            2000,
            reason="one ticket",
            initiated_by=admin.id,
            actor=admin,
        )

        assert refund.status is RefundStatus.succeeded
        assert refund.provider_ref is not None
        assert payment.refunded_minor == 2000
        assert await _topic_count(session, Topic.refund_issued) == 1

    async def test_refunds_cannot_exceed_the_payment(self, session: AsyncSession) -> None:
        sandbox = SandboxProvider(webhook_secret="s")
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer, amount_minor=5000)
        await sandbox.confirm(payment.provider_ref, {})
        await service.succeed(session, payment)
        await refunds.refund(
            session, sandbox, payment.id, 4000, reason="", initiated_by=None, actor=None
        )

        with pytest.raises(RefundExceedsPayment) as caught:
            await refunds.refund(
                session, sandbox, payment.id, 1001, reason="", initiated_by=None, actor=None
            )
        assert caught.value.extra == {"refundable_minor": 1000}

    async def test_an_unpaid_payment_cannot_be_refunded(self, session: AsyncSession) -> None:
        sandbox = SandboxProvider(webhook_secret="s")
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)

        with pytest.raises(PaymentNotRefundable):
            await refunds.refund(
                session, sandbox, payment.id, 100, reason="", initiated_by=None, actor=None
            )

    async def test_a_pending_refund_settles_by_webhook_once(self, session: AsyncSession) -> None:
        fake = FakeStripe(refund_status="pending")
        stripe = StripeProvider(
            secret_key=STRIPE_KEY,
            webhook_secret=WEBHOOK_SECRET,
            api_base="https://api.stripe.test",
            transport=fake.transport(),
        )
        buyer = await create_user(session)
        payment = await create_payment(session, stripe, user=buyer, amount_minor=5000)
        await service.succeed(session, payment)
        refund = await refunds.refund(
            session, stripe, payment.id, 5000, reason="cancelled", initiated_by=None, actor=None
        )
        assert refund.provider_ref is not None
        body = stripe_event(
            "refund.updated",
            {
                "id": refund.provider_ref,
                "object": "refund",
                "amount": 5000,
                "currency": "usd",
                "payment_intent": payment.provider_ref,
                "status": "succeeded",
            },
            event_id="evt_refund_1",
        )
        headers = {"Stripe-Signature": stripe_signature_header(WEBHOOK_SECRET, body)}

        pending_then = refund.status
        first = await webhooks.process_webhook(session, stripe, "stripe", headers, body)
        second = await webhooks.process_webhook(session, stripe, "stripe", headers, body)

        assert pending_then is RefundStatus.pending
        assert (first.outcome, second.duplicate) == ("applied", True)
        assert refund.status is RefundStatus.succeeded
        assert payment.refunded_minor == 5000
        assert await _topic_count(session, Topic.refund_issued) == 1
