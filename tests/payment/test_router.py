from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role
from boxoffice.config import Settings
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.payment.models import PaymentWebhookEvent
from boxoffice.payment.providers.sandbox import SandboxProvider
from tests.factories import bearer, create_user
from tests.payment.events import intent_event, signed
from tests.payment.factories import create_payment

WEBHOOK = "/api/payments/webhooks/sandbox"


async def _count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _outbox(session: AsyncSession, topic: Topic) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == topic.value)
        )
        or 0
    )


class TestConfirmWithTestCards:
    async def test_the_success_card_succeeds(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer, amount_minor=5000)

        response = await client.post(
            "/api/payments/confirm",
            json={"payment_id": str(payment.id), "card_number": "4242424242424242"},
            headers=bearer(settings, buyer),
        )

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "succeeded"
        assert body["succeeded_at"] is not None

    async def test_the_seed_body_with_a_status_is_accepted_and_the_status_ignored(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)

        response = await client.post(
            "/api/payments/confirm",
            json={
                "payment_id": str(payment.id),
                "status": "completed",
                "card_number": "4000000000000002",
            },
            headers=bearer(settings, buyer),
        )

        assert response.json()["status"] == "failed"

    async def test_a_declined_card_fails_with_the_reason_and_tells_the_buyer(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)

        body = (
            await client.post(
                "/api/payments/confirm",
                json={"payment_id": str(payment.id), "card_number": "4000000000009995"},
                headers=bearer(settings, buyer),
            )
        ).json()

        assert body["status"] == "failed"
        assert "insufficient_funds" in body["failure_reason"]
        assert await _outbox(session, Topic.payment_failed) == 1

    async def test_a_3ds_card_needs_authentication_then_succeeds(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)
        confirm = {"payment_id": str(payment.id), "card_number": "4000002500003155"}

        first = await client.post(
            "/api/payments/confirm", json=confirm, headers=bearer(settings, buyer)
        )
        second = await client.post(
            "/api/payments/confirm",
            json={**confirm, "authenticated": True},
            headers=bearer(settings, buyer),
        )

        assert first.json()["status"] == "requires_action"
        assert second.json()["status"] == "succeeded"

    async def test_a_late_card_succeeds_only_when_the_webhook_arrives(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)

        confirmed = await client.post(
            "/api/payments/confirm",
            json={"payment_id": str(payment.id), "card_number": "4000000000000000"},
            headers=bearer(settings, buyer),
        )
        webhook = sandbox.emitted[-1]
        delivered = await client.post(WEBHOOK, content=webhook.body, headers=webhook.headers)
        seen = await client.get(f"/api/payments/{payment.id}", headers=bearer(settings, buyer))

        assert confirmed.json()["status"] == "initiated"
        assert delivered.json() == {
            "received": True,
            "duplicate": False,
            "outcome": "applied",
            "payment_id": str(payment.id),
        }
        assert seen.json()["status"] == "succeeded"

    async def test_the_webhook_after_a_confirmed_success_changes_nothing(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)
        await client.post(
            "/api/payments/confirm",
            json={"payment_id": str(payment.id)},
            headers=bearer(settings, buyer),
        )
        webhook = sandbox.emitted[-1]

        first = await client.post(WEBHOOK, content=webhook.body, headers=webhook.headers)
        again = await client.post(WEBHOOK, content=webhook.body, headers=webhook.headers)

        assert first.json()["outcome"] == "unchanged"
        assert again.json()["duplicate"] is True
        assert again.json()["outcome"] == "duplicate"
        assert await _count(session, PaymentWebhookEvent) == 1

    async def test_someone_elses_payment_is_not_found(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        stranger = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)

        response = await client.post(
            "/api/payments/confirm",
            json={"payment_id": str(payment.id)},
            headers=bearer(settings, stranger),
        )

        assert response.status_code == 404
        assert response.json()["code"] == "payment_not_found"

    async def test_a_non_numeric_card_is_a_validation_error(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)

        response = await client.post(
            "/api/payments/confirm",
            json={"payment_id": str(payment.id), "card_number": "4242-4242"},
            headers=bearer(settings, buyer),
        )

        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"


class TestWebhookVerification:
    async def test_a_bad_signature_is_refused_and_nothing_written(
        self, client: AsyncClient, session: AsyncSession, sandbox: SandboxProvider
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer, amount_minor=5000)
        body = intent_event("payment_intent.succeeded", payment.provider_ref, amount_minor=5000)

        response = await client.post(
            WEBHOOK, content=body, headers=signed(body, secret="whsec_someone_else")
        )

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"
        assert await _count(session, PaymentWebhookEvent) == 0
        await session.refresh(payment)
        assert payment.status == "initiated"

    async def test_a_missing_signature_is_refused(
        self, client: AsyncClient, sandbox: SandboxProvider
    ) -> None:
        response = await client.post(WEBHOOK, content=b"{}")

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"

    async def test_another_provider_than_the_configured_one_is_not_found(
        self, client: AsyncClient, sandbox: SandboxProvider
    ) -> None:
        response = await client.post("/api/payments/webhooks/stripe", content=b"{}")

        assert response.status_code == 404
        assert response.json()["code"] == "unknown_provider"

    async def test_an_event_for_an_unknown_payment_is_not_recorded(
        self, client: AsyncClient, session: AsyncSession, sandbox: SandboxProvider
    ) -> None:
        body = intent_event("payment_intent.succeeded", "sbx_pi_unknown", amount_minor=100)

        response = await client.post(WEBHOOK, content=body, headers=signed(body))

        assert response.status_code == 404
        assert response.json()["code"] == "payment_not_found"
        assert await _count(session, PaymentWebhookEvent) == 0

    async def test_an_event_type_we_do_not_act_on_is_recorded_as_ignored(
        self, client: AsyncClient, session: AsyncSession, sandbox: SandboxProvider
    ) -> None:
        body = b'{"id": "evt_x", "type": "customer.created", "data": {"object": {}}}'

        response = await client.post(WEBHOOK, content=body, headers=signed(body))

        assert response.json()["outcome"] == "ignored"
        assert await _count(session, PaymentWebhookEvent) == 1

    async def test_a_success_for_another_amount_is_kept_for_reconciliation(
        self, client: AsyncClient, session: AsyncSession, sandbox: SandboxProvider
    ) -> None:
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer, amount_minor=5000)
        body = intent_event("payment_intent.succeeded", payment.provider_ref, amount_minor=100)

        response = await client.post(WEBHOOK, content=body, headers=signed(body))

        assert response.json()["outcome"] == "amount_mismatch"
        await session.refresh(payment)
        assert payment.status == "initiated"
        assert payment.meta["amount_mismatch"]["amount_minor"] == 100


class TestReadPayments:
    async def test_the_buyer_sees_the_payment_and_an_admin_too(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        admin = await create_user(session, role=Role.admin)
        stranger = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)
        path = f"/api/payments/{payment.id}"

        own = await client.get(path, headers=bearer(settings, buyer))
        by_admin = await client.get(path, headers=bearer(settings, admin))
        by_stranger = await client.get(path, headers=bearer(settings, stranger))

        assert own.json()["id"] == str(payment.id)
        assert own.json()["refunds"] == []
        assert by_admin.status_code == 200
        assert by_stranger.status_code == 404

    async def test_the_list_shows_only_own_payments(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        buyer = await create_user(session)
        other = await create_user(session)
        mine = await create_payment(session, sandbox, user=buyer)
        await create_payment(session, sandbox, user=other)

        body = (await client.get("/api/payments", headers=bearer(settings, buyer))).json()

        assert [p["id"] for p in body["items"]] == [str(mine.id)]
        assert body["total"] == 1

    async def test_anonymous_callers_are_refused(self, client: AsyncClient) -> None:
        response = await client.get("/api/payments")

        assert response.status_code == 401
