from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.kit.time import utcnow
from boxoffice.payment.jobs import reconcile_open_payments
from boxoffice.payment.models import Payment, PaymentStatus
from boxoffice.payment.providers.stripe import StripeProvider
from boxoffice.payment.repository import PaymentRepository
from tests.factories import create_user
from tests.payment.factories import create_payment
from tests.payment.fakes import STRIPE_KEY, FakeStripe


def _stripe(fake: FakeStripe) -> StripeProvider:
    return StripeProvider(
        secret_key=STRIPE_KEY,
        webhook_secret="whsec_x",
        api_base="https://api.stripe.test",
        transport=fake.transport(),
    )


async def _age(session: AsyncSession, payment: Payment, minutes: int) -> None:
    await session.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(created_at=utcnow() - timedelta(minutes=minutes))
    )


class TestReconcile:
    async def test_a_missed_success_is_picked_up(self, session: AsyncSession) -> None:
        fake = FakeStripe()
        stripe = _stripe(fake)
        buyer = await create_user(session)
        payment = await create_payment(session, stripe, user=buyer, amount_minor=5000)
        await _age(session, payment, 30)
        fake.intents[payment.provider_ref]["status"] = "succeeded"

        report = await reconcile_open_payments(session, stripe)

        assert (report.checked, report.changed, report.errors) == (1, 1, 0)
        assert payment.status is PaymentStatus.succeeded
        assert payment.meta["history"][-1]["cause"] == "reconcile"

    async def test_young_and_still_pending_payments_stay_open(self, session: AsyncSession) -> None:
        fake = FakeStripe()
        stripe = _stripe(fake)
        buyer = await create_user(session)
        young = await create_payment(session, stripe, user=buyer)
        waiting = await create_payment(session, stripe, user=buyer)
        await _age(session, waiting, 30)

        report = await reconcile_open_payments(session, stripe)

        assert (report.checked, report.changed) == (1, 0)
        assert young.status is PaymentStatus.initiated
        assert waiting.status is PaymentStatus.initiated
        assert "reconciled_at" in waiting.meta

    async def test_a_provider_error_is_counted_and_skipped(self, session: AsyncSession) -> None:
        fake = FakeStripe()
        stripe = _stripe(fake)
        buyer = await create_user(session)
        payment = await create_payment(session, stripe, user=buyer)
        await _age(session, payment, 30)
        del fake.intents[payment.provider_ref]

        report = await reconcile_open_payments(session, stripe)

        assert (report.checked, report.errors) == (1, 1)
        assert payment.status is PaymentStatus.initiated


class TestSeveralReconcilers:
    async def test_a_payment_locked_by_one_reconciler_is_skipped_by_another(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        stripe = _stripe(FakeStripe())
        async with committed() as session:
            buyer = await create_user(session)
            for _ in range(3):
                payment = await create_payment(session, stripe, user=buyer)
                await _age(session, payment, 30)
            await session.commit()
        before = utcnow()

        async with committed() as first, committed() as second:
            taken = await PaymentRepository(first).claim_unsettled(
                "stripe", created_before=before, limit=2
            )
            rest = await PaymentRepository(second).claim_unsettled(
                "stripe", created_before=before, limit=10
            )

        assert len(taken) == 2
        assert len(rest) == 1
        assert {p.id for p in taken}.isdisjoint({p.id for p in rest})
