"""No password, token or one-time code appears in logs or in responses that do not need it.

Every flow runs with all application logging captured at DEBUG (access log, service events,
httpx calls to the identity provider), then the captured text is searched for each secret
the flow handled.
"""

import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr

from boxoffice.config import GoogleSettings, Settings
from tests.auth.fake_oidc import CLIENT_ID, CLIENT_SECRET, ISSUER, REDIRECT_URI, FakeIssuer
from tests.auth.fakes import RecordingSmsSender
from tests.auth.helpers import STRONG_PASSWORD, bearer, login, new_email, register

NEW_PASSWORD = "fresh-orchard-lantern-42"
WRONG_PASSWORD = "mistyped-orchard-lantern-41"


def _assert_absent(caplog: pytest.LogCaptureFixture, secrets: dict[str, str]) -> None:
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "nothing was logged: the capture is not working"
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert leaked == []


class TestNoSecretsInLogs:
    async def test_password_and_token_flows(
        self, client: AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        email = new_email()
        registered = await register(client, email=email)
        failed = await client.post(
            "/api/auth/login", json={"email": email, "password": WRONG_PASSWORD}
        )
        assert WRONG_PASSWORD not in failed.text
        signed_in = await login(client, email)
        refreshed = (
            await client.post(
                "/api/auth/refresh-token", json={"refresh_token": signed_in["refresh_token"]}
            )
        ).json()
        reused = await client.post(
            "/api/auth/refresh-token", json={"refresh_token": signed_in["refresh_token"]}
        )
        assert signed_in["refresh_token"] not in reused.text
        changed = await client.put(
            "/api/users/change-password",
            json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(registered),
        )
        assert changed.status_code == 204
        assert changed.content == b""
        profile = await client.get("/api/users/profile", headers=bearer(registered))
        assert "password" not in profile.text
        await client.post("/api/auth/logout", headers=bearer(registered))
        _assert_absent(
            caplog,
            {
                "password": STRONG_PASSWORD,
                "new password": NEW_PASSWORD,
                "wrong password": WRONG_PASSWORD,
                "access token": registered["access_token"],
                "refresh token": registered["refresh_token"],
                "rotated refresh token": refreshed["refresh_token"],
                "spent refresh token": signed_in["refresh_token"],
                "jwt secret": "dev-only-change-me-boxoffice-jwt-secret",
            },
        )

    async def test_phone_code_flow(
        self, app: FastAPI, client: AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        sms = RecordingSmsSender()
        app.state.sms_sender = sms
        tokens = await register(client)
        caplog.set_level(logging.DEBUG)
        phone = "+447700900123"
        sent = await client.post(
            "/api/auth/phone/request-code", json={"phone": phone}, headers=bearer(tokens)
        )
        code = sms.last_code(phone)
        assert code not in sent.text
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        rejected = await client.post(
            "/api/auth/phone/verify", json={"phone": phone, "code": wrong}, headers=bearer(tokens)
        )
        assert wrong not in rejected.text
        verified = await client.post(
            "/api/auth/phone/verify", json={"phone": phone, "code": code}, headers=bearer(tokens)
        )
        assert verified.status_code == 200
        _assert_absent(caplog, {"code": code, "wrong code": wrong})

    async def test_google_flow(
        self,
        app: FastAPI,
        settings: Settings,
        client: AsyncClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        issuer = FakeIssuer()
        app.state.settings = settings.model_copy(
            update={
                "google": GoogleSettings(
                    issuer=ISSUER,
                    client_id=CLIENT_ID,
                    client_secret=SecretStr(CLIENT_SECRET),
                    redirect_uri=REDIRECT_URI,
                )
            }
        )
        app.state.oidc_transport = httpx.ASGITransport(app=issuer.app)
        caplog.set_level(logging.DEBUG)
        started = (await client.get("/api/auth/google/authorize")).json()
        query = parse_qs(urlsplit(started["authorization_url"]).query)
        nonce = query["nonce"][0]
        issuer.consent(query["code_challenge"][0])
        id_token = issuer.sign(issuer.claims(nonce))
        code = issuer.issue_code(id_token)
        response = await client.post(
            "/api/auth/google/callback", json={"code": code, "state": started["state"]}
        )
        assert response.status_code == 200
        assert id_token not in response.text
        assert CLIENT_SECRET not in response.text
        body = response.json()
        _assert_absent(
            caplog,
            {
                "client secret": CLIENT_SECRET,
                "authorization code": code,
                "state": started["state"],
                "nonce": nonce,
                "pkce verifier": issuer.token_requests[0]["code_verifier"][0],
                "id token": id_token,
                "provider access token": "provider-access-token",
                "our access token": body["access_token"],
                "our refresh token": body["refresh_token"],
            },
        )
