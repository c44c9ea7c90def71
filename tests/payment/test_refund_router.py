from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role
from boxoffice.config import Settings
from boxoffice.payment import service
from boxoffice.payment.models import Payment
from boxoffice.payment.providers.sandbox import SandboxProvider
from tests.factories import bearer, create_user
from tests.payment.factories import create_payment


async def _paid(session: AsyncSession, sandbox: SandboxProvider, amount_minor: int) -> Payment:
    buyer = await create_user(session)
    payment = await create_payment(session, sandbox, user=buyer, amount_minor=amount_minor)
    await sandbox.confirm(payment.provider_ref, {"card_number": "4242424242424242"})
    await service.succeed(session, payment)
    return payment


class TestAdminRefunds:
    async def test_an_admin_refunds_part_then_the_rest(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        payment = await _paid(session, sandbox, 5000)
        path = f"/api/payments/{payment.id}/refunds"

        part = await client.post(
            path, json={"amount_minor": 2000, "reason": "one seat"}, headers=bearer(settings, admin)
        )
        rest = await client.post(path, json={}, headers=bearer(settings, admin))
        seen = await client.get(f"/api/payments/{payment.id}", headers=bearer(settings, admin))

        assert part.status_code == 201
        assert (part.json()["amount_minor"], part.json()["status"]) == (2000, "succeeded")
        assert part.json()["initiated_by"] == str(admin.id)
        assert rest.json()["amount_minor"] == 3000
        assert seen.json()["refunded_minor"] == 5000
        assert sorted(r["amount_minor"] for r in seen.json()["refunds"]) == [2000, 3000]

    async def test_more_than_is_left_is_refused(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        payment = await _paid(session, sandbox, 5000)

        response = await client.post(
            f"/api/payments/{payment.id}/refunds",
            json={"amount_minor": 5001},
            headers=bearer(settings, admin),
        )

        assert response.status_code == 422
        assert response.json()["code"] == "refund_exceeds_payment"
        assert response.json()["refundable_minor"] == 5000

    async def test_an_unpaid_payment_is_not_refundable(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        buyer = await create_user(session)
        payment = await create_payment(session, sandbox, user=buyer)

        response = await client.post(
            f"/api/payments/{payment.id}/refunds", json={}, headers=bearer(settings, admin)
        )

        assert response.status_code == 409
        assert response.json()["code"] == "payment_not_refundable"

    async def test_buyers_cannot_refund(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        payment = await _paid(session, sandbox, 5000)
        buyer = await create_user(session)

        response = await client.post(
            f"/api/payments/{payment.id}/refunds", json={}, headers=bearer(settings, buyer)
        )

        assert response.status_code == 403
