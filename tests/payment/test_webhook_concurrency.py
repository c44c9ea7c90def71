import asyncio
import random

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.payment.models import Payment, PaymentWebhookEvent
from boxoffice.payment.providers.sandbox import SandboxProvider
from tests.factories import create_user
from tests.payment.events import intent_event, signed
from tests.payment.factories import create_payment

WEBHOOK = "/api/payments/webhooks/sandbox"


class TestConcurrentDeliveries:
    async def test_events_delivered_many_times_in_any_order_change_the_payment_once(
        self,
        committing_client: AsyncClient,
        committing_sandbox: SandboxProvider,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        async with sessionmaker() as session:
            buyer = await create_user(session)
            payment = await create_payment(
                session, committing_sandbox, user=buyer, amount_minor=5000
            )
            await session.commit()
        ref = payment.provider_ref
        succeeded = intent_event(
            "payment_intent.succeeded", ref, amount_minor=5000, event_id="evt_ok"
        )
        needs_action = intent_event(
            "payment_intent.requires_action", ref, amount_minor=5000, event_id="evt_3ds"
        )
        declined = intent_event(
            "payment_intent.payment_failed",
            ref,
            amount_minor=5000,
            event_id="evt_declined",
            last_payment_error={"code": "card_declined", "message": "Declined"},
        )
        deliveries = [succeeded] * 12 + [needs_action] * 4 + [declined] * 4
        random.Random(7).shuffle(deliveries)

        responses = await asyncio.gather(
            *(
                committing_client.post(WEBHOOK, content=body, headers=signed(body))
                for body in deliveries
            )
        )

        assert [r.status_code for r in responses] == [200] * len(deliveries)
        assert sum(r.json()["duplicate"] for r in responses) == len(deliveries) - 3
        async with sessionmaker() as session:
            stored = await session.get(Payment, payment.id)
            assert stored is not None
            assert stored.status == "succeeded"
            history = [h["to"] for h in stored.meta["history"]]
            assert history.count("succeeded") == 1
            assert stored.provider_event_ids.count("evt_ok") == 1
            events = await session.scalar(select(func.count()).select_from(PaymentWebhookEvent))
            assert events == 3
            failures = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == Topic.payment_failed.value)
            )
            assert failures in (0, 1)
