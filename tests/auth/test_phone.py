"""Phone verification by one-time code."""

import asyncio
import logging
from collections import Counter

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import PhoneVerification
from boxoffice.config import Settings
from tests.auth.fakes import RecordingSmsSender
from tests.auth.helpers import bearer, register
from tests.factories import configure

PHONE = "+14155550123"


@pytest.fixture
def sms(app: FastAPI) -> RecordingSmsSender:
    sender = RecordingSmsSender()
    app.state.sms_sender = sender
    return sender


async def _request(client: AsyncClient, tokens: dict[str, str], phone: str = PHONE) -> int:
    response = await client.post(
        "/api/auth/phone/request-code", json={"phone": phone}, headers=bearer(tokens)
    )
    return response.status_code


async def _verify(client: AsyncClient, tokens: dict[str, str], code: str) -> dict[str, object]:
    response = await client.post(
        "/api/auth/phone/verify", json={"phone": PHONE, "code": code}, headers=bearer(tokens)
    )
    body: dict[str, object] = response.json()
    body["status"] = response.status_code
    return body


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


class TestVerifyPhone:
    async def test_request_then_verify(self, client: AsyncClient, sms: RecordingSmsSender) -> None:
        tokens = await register(client)
        assert await _request(client, tokens) == 202
        code = sms.last_code(PHONE)
        verified = await _verify(client, tokens, code)
        assert verified["status"] == 200
        assert verified["phone"] == PHONE
        assert verified["phone_verified_at"] is not None
        again = await _verify(client, tokens, code)
        assert again["code"] == "otp_not_requested"

    async def test_code_is_stored_hashed(
        self, client: AsyncClient, session: AsyncSession, sms: RecordingSmsSender
    ) -> None:
        tokens = await register(client)
        await _request(client, tokens)
        row = await session.scalar(select(PhoneVerification))
        assert row is not None
        code = sms.last_code(PHONE)
        assert code.encode() not in row.code_hash
        assert len(row.code_hash) == 32

    async def test_wrong_code_counts_down_then_locks(
        self, client: AsyncClient, sms: RecordingSmsSender
    ) -> None:
        tokens = await register(client)
        await _request(client, tokens)
        code = sms.last_code(PHONE)
        first = await _verify(client, tokens, _wrong(code))
        assert (first["status"], first["code"], first["attempts_left"]) == (422, "otp_invalid", 4)
        for _ in range(4):
            await _verify(client, tokens, _wrong(code))
        locked = await _verify(client, tokens, code)
        assert (locked["status"], locked["code"]) == (410, "otp_attempts_exceeded")

    async def test_expired_code(
        self, client: AsyncClient, session: AsyncSession, sms: RecordingSmsSender
    ) -> None:
        tokens = await register(client)
        await _request(client, tokens)
        await session.execute(
            update(PhoneVerification).values(expires_at=PhoneVerification.created_at)
        )
        expired = await _verify(client, tokens, sms.last_code(PHONE))
        assert (expired["status"], expired["code"]) == (410, "otp_expired")

    async def test_a_new_code_replaces_the_old_one(
        self, client: AsyncClient, sms: RecordingSmsSender
    ) -> None:
        tokens = await register(client)
        await _request(client, tokens)
        old = sms.last_code(PHONE)
        await _request(client, tokens)
        new = sms.last_code(PHONE)
        if old != new:
            assert (await _verify(client, tokens, old))["code"] == "otp_invalid"
        assert (await _verify(client, tokens, new))["status"] == 200

    async def test_another_users_code_does_not_verify_mine(
        self, client: AsyncClient, sms: RecordingSmsSender
    ) -> None:
        owner = await register(client)
        intruder = await register(client)
        await _request(client, owner)
        stolen = await _verify(client, intruder, sms.last_code(PHONE))
        assert stolen["code"] == "otp_not_requested"

    async def test_requires_sign_in(self, client: AsyncClient) -> None:
        response = await client.post("/api/auth/phone/request-code", json={"phone": PHONE})
        assert response.status_code == 401


class TestRequestLimits:
    async def test_per_phone(self, client: AsyncClient, sms: RecordingSmsSender) -> None:
        tokens = await register(client)
        statuses = [await _request(client, tokens) for _ in range(4)]
        assert statuses == [202, 202, 202, 429]
        assert len(sms.sent) == 3

    async def test_per_ip(
        self, app: FastAPI, settings: Settings, client: AsyncClient, sms: RecordingSmsSender
    ) -> None:
        configure(app, settings, "auth", otp_requests_per_ip=2)
        tokens = await register(client)
        statuses = [await _request(client, tokens, f"+1415555010{i}") for i in range(3)]
        assert statuses == [202, 202, 429]
        response = await client.post(
            "/api/auth/phone/request-code", json={"phone": PHONE}, headers=bearer(tokens)
        )
        assert int(response.headers["Retry-After"]) > 0


class TestDevelopmentSender:
    async def test_default_sender_writes_the_code_to_the_log(
        self, client: AsyncClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        tokens = await register(client)
        with caplog.at_level(logging.INFO):
            assert await _request(client, tokens) == 202
        records = [r for r in caplog.records if "sms_not_sent_development_sender" in r.getMessage()]
        assert len(records) == 1
        assert PHONE in records[0].getMessage()
        assert "Your boxoffice code is " in records[0].getMessage()


class TestConcurrentGuesses:
    async def test_attempt_limit_holds_under_concurrent_guesses(
        self,
        committing_app: FastAPI,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
    ) -> None:
        sms = RecordingSmsSender()
        committing_app.state.sms_sender = sms
        tokens = await register(committing_client)
        await _request(committing_client, tokens)
        wrong = _wrong(sms.last_code(PHONE))
        results = await asyncio.gather(
            *(_verify(committing_client, tokens, wrong) for _ in range(12))
        )
        assert Counter(r["code"] for r in results) == {
            "otp_invalid": 5,
            "otp_attempts_exceeded": 7,
        }
        async with committed() as db:
            row = await db.scalar(select(PhoneVerification))
            assert row is not None
            assert row.attempts == 5
