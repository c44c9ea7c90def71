"""Verifying an account's e-mail address, and buying only with a verified one when asked."""

import time
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import email_verification, password_reset
from boxoffice.auth.models import Role, User
from boxoffice.config import BookingSettings, Settings
from tests.auth.conftest import mailed_token, queued
from tests.auth.helpers import bearer, new_email, register
from tests.booking.factories import create_world
from tests.factories import create_user
from tests.notification.conftest import RecordingEmailSender

VERIFY = "/api/auth/email/verify"
AGAIN = "/api/auth/email/request-verification"


async def _queued(session: AsyncSession) -> list[dict[str, Any]]:
    return await queued(session, email_verification.SEND)


async def _mailed_token(session: AsyncSession, mailbox: RecordingEmailSender, email: str) -> str:
    return await mailed_token(session, mailbox, email_verification.SEND, email)


class TestVerify:
    async def test_a_new_account_is_mailed_a_link_that_verifies_it(
        self, client: AsyncClient, session: AsyncSession, mailbox: RecordingEmailSender
    ) -> None:
        email = new_email()
        signed_in = await register(client, email=email)
        assert signed_in["user"]["email_verified_at"] is None
        token = await _mailed_token(session, mailbox, email)

        verified = await client.post(VERIFY, json={"token": token})
        again = await client.post(VERIFY, json={"token": token})
        me = await client.get("/api/users/me", headers=bearer(signed_in))
        more = await client.post(AGAIN, headers=bearer(signed_in))

        assert verified.status_code == 200, verified.text
        assert verified.json()["email_verified_at"] is not None
        assert again.json()["email_verified_at"] == verified.json()["email_verified_at"]
        assert me.json()["email_verified_at"] == verified.json()["email_verified_at"]
        assert more.status_code == 409
        assert more.json()["code"] == "email_already_verified"

    async def test_asking_again_is_rate_limited(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        signed_in = await register(client)
        limit = settings.auth.email_verification_requests_per_user

        statuses = [
            (await client.post(AGAIN, headers=bearer(signed_in))).status_code
            for _ in range(limit + 1)
        ]

        assert statuses == [202] * limit + [429]
        assert len(await _queued(session)) == 1 + limit  # the registration's, then these

    async def test_stale_expired_foreign_and_malformed_tokens_are_refused(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        created = await register(client)
        user = await session.get(User, created["user"]["id"])
        assert user is not None
        now = int(time.time())
        ttl = settings.auth.email_verification_ttl_seconds
        expired = email_verification.make_token(settings.auth, user, now - ttl - 1)
        reset_token = password_reset.make_token(settings.auth, user, now)
        fresh = email_verification.make_token(settings.auth, user, now)

        def verify(token: str) -> Any:
            return client.post(VERIFY, json={"token": token})

        cases = {
            "expired": (await verify(expired), 410, "email_verification_token_expired"),
            "a password reset token": (
                await verify(reset_token),
                400,
                "email_verification_token_invalid",
            ),
            "malformed": (await verify("x.y"), 400, "email_verification_token_invalid"),
        }
        user.email = new_email()  # `fresh` was made for the old address
        await session.flush()
        cases["for the old address"] = (
            await verify(fresh),
            400,
            "email_verification_token_invalid",
        )
        for name, (response, status, code) in cases.items():
            assert response.status_code == status, name
            assert response.json()["code"] == code, name
        await session.refresh(user)
        assert user.email_verified_at is None

    async def test_an_admins_address_correction_asks_for_verification_again(
        self,
        client: AsyncClient,
        session: AsyncSession,
        mailbox: RecordingEmailSender,
        auth_headers: Any,
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        email = new_email()
        created = await register(client, email=email)
        await client.post(VERIFY, json={"token": await _mailed_token(session, mailbox, email)})
        corrected = new_email()

        changed = await client.put(
            f"/api/users/{created['user']['id']}",
            json={"email": corrected},
            headers=auth_headers(admin),
        )
        token = await _mailed_token(session, mailbox, corrected)

        assert changed.status_code == 200, changed.text
        user = await session.get(User, created["user"]["id"])
        assert user is not None
        await session.refresh(user)
        assert user.email_verified_at is None
        assert (await client.post(VERIFY, json={"token": token})).status_code == 200


class TestRequiredToBuy:
    async def test_only_a_verified_address_may_hold_or_book(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        settings: Settings,
        auth_headers: Any,
    ) -> None:
        world = await create_world(session, price_minor=0)
        unverified, verified = await create_user(session), await create_user(session)
        verified.email_verified_at = unverified.created_at
        await session.flush()
        showtime = str(world.showtime.id)
        held = await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": showtime, "quantity": 1},
            headers=auth_headers(unverified),
        )
        assert held.status_code == 201  # before the setting
        app.state.settings = settings.model_copy(
            update={"booking": BookingSettings(require_verified_email=True)}
        )

        refused = {
            "hold": await client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": showtime, "quantity": 1},
                headers=auth_headers(unverified),
            ),
            "one call": await client.post(
                "/api/bookings",
                json={"showtime_id": showtime, "quantity": 1},
                headers=auth_headers(unverified),
            ),
            "from a hold": await client.post(
                "/api/bookings/create",
                json={"hold_id": held.json()["id"]},
                headers=auth_headers(unverified),
            ),
        }
        allowed = await client.post(
            "/api/bookings",
            json={"showtime_id": showtime, "quantity": 1},
            headers=auth_headers(verified),
        )

        for name, response in refused.items():
            assert response.status_code == 403, name
            assert response.json()["code"] == "email_verification_required", name
        assert allowed.status_code == 201, allowed.text
