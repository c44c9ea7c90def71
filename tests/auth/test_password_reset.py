"""Forgotten passwords: ask for a reset e-mail, then set a new password with its token."""

import asyncio
import time
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth import account_tokens, password_reset
from boxoffice.auth.models import User
from boxoffice.auth.security import verify_password
from boxoffice.config import Settings
from boxoffice.kit.jobs import HANDLERS
from tests.auth.conftest import mailed_token, queued
from tests.auth.helpers import STRONG_PASSWORD, bearer, login, new_email, register
from tests.notification.conftest import RecordingEmailSender

NEW_PASSWORD = "green-lantern-ninety-owls"
REQUEST = "/api/auth/password-reset/request"
CONFIRM = "/api/auth/password-reset/confirm"


async def _queued(session: AsyncSession) -> list[dict[str, Any]]:
    return await queued(session, password_reset.SEND_RESET_EMAIL)


async def _emailed_token(
    client: AsyncClient, session: AsyncSession, mailbox: RecordingEmailSender, email: str
) -> str:
    """Ask for a reset, run the queued job as the worker would, read the token it mailed."""
    asked = await client.post(REQUEST, json={"email": email})
    assert asked.status_code == 202, asked.text
    return await mailed_token(session, mailbox, password_reset.SEND_RESET_EMAIL, email)


class TestReset:
    async def test_the_emailed_token_sets_a_new_password_once_and_signs_out_everywhere(
        self, client: AsyncClient, session: AsyncSession, mailbox: RecordingEmailSender
    ) -> None:
        email = new_email()
        signed_in = await register(client, email=email)
        token = await _emailed_token(client, session, mailbox, email)
        # The queued job holds nothing a database reader could use to reset the password.
        assert set((await _queued(session))[0]) == {"user_id", "issued_at", "token_version"}
        assert token not in str(await _queued(session))

        reset = await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
        again = await client.post(
            CONFIRM, json={"token": token, "new_password": "x" + NEW_PASSWORD}
        )
        old_access = await client.get("/api/users/me", headers=bearer(signed_in))
        old_refresh = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": signed_in["refresh_token"]}
        )
        old_password = await client.post(
            "/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}
        )

        assert reset.status_code == 204, reset.text
        assert again.status_code == 400
        assert again.json()["code"] == "password_reset_token_invalid"
        assert old_access.status_code == 401
        assert old_refresh.status_code == 401
        assert old_password.status_code == 401
        signed_in_again = await login(client, email, NEW_PASSWORD)
        assert signed_in_again["user"]["email"] == email
        # The token came through the address: it is verified now.
        assert signed_in_again["user"]["email_verified_at"] is not None

    async def test_unknown_and_deactivated_addresses_get_the_same_answer_and_no_email(
        self, client: AsyncClient, session: AsyncSession, mailbox: RecordingEmailSender
    ) -> None:
        known, disabled = new_email(), new_email()
        await register(client, email=known)
        created = await register(client, email=disabled)
        user = await session.get(User, created["user"]["id"])
        assert user is not None
        user.is_active = False
        await session.flush()

        answers = [
            await client.post(REQUEST, json={"email": e}) for e in (known, new_email(), disabled)
        ]

        jobs = await _queued(session)
        for job in jobs:
            await HANDLERS[password_reset.SEND_RESET_EMAIL](session, job)

        assert {a.status_code for a in answers} == {202}
        assert answers[0].json() == answers[1].json() == answers[2].json()
        # The same writes for all three (timing tells nothing); the jobs for nobody do nothing.
        assert [p["user_id"] for p in jobs] == [await register_id(session, known), None, None]
        assert [m.to for m in mailbox.sent] == [known]

    async def test_a_weak_password_is_refused_and_the_token_still_works(
        self, client: AsyncClient, session: AsyncSession, mailbox: RecordingEmailSender
    ) -> None:
        email = new_email()
        await register(client, email=email)
        token = await _emailed_token(client, session, mailbox, email)

        weak = await client.post(CONFIRM, json={"token": token, "new_password": "short"})
        strong = await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

        assert weak.status_code == 422
        assert weak.json()["code"] == "weak_password"
        assert strong.status_code == 204

    async def test_the_link_setting_puts_the_token_in_the_apps_page(
        self,
        client: AsyncClient,
        session: AsyncSession,
        mailbox: RecordingEmailSender,
        monkeypatch: pytest.MonkeyPatch,
        settings: Settings,
    ) -> None:
        auth = settings.auth.model_copy(
            update={"password_reset_url": "https://tickets.example.com/reset?t={token}"}
        )
        # The job that e-mails the token reads the settings (`account_tokens.send_email`).
        monkeypatch.setattr(
            account_tokens,
            "get_settings",
            lambda: settings.model_copy(update={"auth": auth}),
        )
        email = new_email()
        await register(client, email=email)

        token = await _emailed_token(client, session, mailbox, email)

        [message] = mailbox.to(email)
        assert f"https://tickets.example.com/reset?t={token}" in message.text
        assert f'href="https://tickets.example.com/reset?t={token}"' in message.html
        assert message.subject == "Reset your boxoffice password"


async def register_id(session: AsyncSession, email: str) -> str:
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    return str(user.id)


class TestRefused:
    async def test_expired_tampered_malformed_and_stale_tokens(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        created = await register(client, email=email)
        user = await session.get(User, created["user"]["id"])
        assert user is not None
        now = int(time.time())
        ttl = settings.auth.password_reset_ttl_seconds
        expired = password_reset.make_token(settings.auth, user, now - ttl - 1)
        fresh = password_reset.make_token(settings.auth, user, now)
        tampered = fresh[:-2] + ("AA" if not fresh.endswith("AA") else "BB")
        forged_time = fresh.replace(f".{now}.", f".{now + 1}.")

        def confirm(token: str) -> Any:
            return client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

        cases = {
            "expired": (await confirm(expired), 410, "password_reset_token_expired"),
            "tampered": (await confirm(tampered), 400, "password_reset_token_invalid"),
            "forged time": (await confirm(forged_time), 400, "password_reset_token_invalid"),
            "malformed": (await confirm("not-a-token"), 400, "password_reset_token_invalid"),
            "empty": (await confirm(""), 422, "validation_error"),
        }
        user.email = new_email()  # `fresh` was made for the old address
        await session.flush()
        cases["after an e-mail change"] = (
            await confirm(fresh),
            400,
            "password_reset_token_invalid",
        )
        for name, (response, status, code) in cases.items():
            assert response.status_code == status, name
            assert response.json()["code"] == code, name
        await session.refresh(user)
        assert verify_password(user.password_hash, STRONG_PASSWORD)

    async def test_asking_is_rate_limited_per_address_known_or_not(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        known = new_email()
        await register(client, email=known)
        limit = settings.auth.password_reset_requests_per_email

        for email in (known, new_email()):
            statuses = [
                (await client.post(REQUEST, json={"email": email})).status_code
                for _ in range(limit + 1)
            ]
            assert statuses == [202] * limit + [429], email
        # One job per request let through, for the known address and for nobody alike.
        user_ids = [p["user_id"] for p in await _queued(session)]
        assert user_ids == [await register_id(session, known)] * limit + [None] * limit

    async def test_the_job_sends_nothing_once_the_user_signed_out_everywhere(
        self, client: AsyncClient, session: AsyncSession, mailbox: RecordingEmailSender
    ) -> None:
        email = new_email()
        created = await register(client, email=email)
        assert (await client.post(REQUEST, json={"email": email})).status_code == 202
        user = await session.get(User, created["user"]["id"])
        assert user is not None
        user.token_version += 1
        await session.flush()

        await password_reset.send_reset_email(session, (await _queued(session))[0])

        assert mailbox.sent == []


class TestRace:
    async def test_two_uses_of_one_token_at_once_set_one_password(
        self,
        committing_app: FastAPI,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        email = new_email()
        created = await register(committing_client, email=email)
        async with committed() as session:
            user = await session.get(User, created["user"]["id"])
            assert user is not None
            token = password_reset.make_token(settings.auth, user, int(time.time()))
        passwords = [f"{NEW_PASSWORD}-{i}" for i in range(6)]

        results = await asyncio.gather(
            *(
                committing_client.post(CONFIRM, json={"token": token, "new_password": p})
                for p in passwords
            )
        )

        statuses = [r.status_code for r in results]
        assert sorted(statuses) == [204] + [400] * 5
        winner = passwords[statuses.index(204)]
        async with committed() as session:
            stored = await session.get(User, created["user"]["id"])
            assert stored is not None
            assert verify_password(stored.password_hash, winner)
            assert stored.token_version == user.token_version + 1
