"""Sign in with Google against a fake issuer with a locally generated RSA key."""

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User, UserIdentity
from boxoffice.config import GoogleSettings, Settings
from tests.auth.fake_oidc import CLIENT_ID, CLIENT_SECRET, ISSUER, REDIRECT_URI, FakeIssuer
from tests.auth.helpers import bearer
from tests.factories import configure, create_user


@pytest.fixture
def issuer(app: FastAPI, settings: Settings) -> FakeIssuer:
    fake = FakeIssuer()
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
    app.state.oidc_transport = httpx.ASGITransport(app=fake.app)
    return fake


async def _authorize(client: AsyncClient, issuer: FakeIssuer) -> tuple[str, str]:
    """Start a flow; return (state, nonce) as the provider would read them from the URL."""
    response = await client.get("/api/auth/google/authorize")
    assert response.status_code == 200, response.text
    body = response.json()
    url = urlsplit(body["authorization_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/authorize"
    query = parse_qs(url.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["response_type"] == ["code"]
    assert query["state"] == [body["state"]]
    assert query["code_challenge_method"] == ["S256"]
    issuer.consent(query["code_challenge"][0])
    return body["state"], query["nonce"][0]


async def _callback(client: AsyncClient, code: str, state: str) -> httpx.Response:
    return await client.post("/api/auth/google/callback", json={"code": code, "state": state})


async def _sign_in(
    client: AsyncClient, issuer: FakeIssuer, **claims: Any
) -> tuple[httpx.Response, dict[str, Any]]:
    state, nonce = await _authorize(client, issuer)
    id_claims = issuer.claims(nonce, **claims)
    response = await _callback(client, issuer.issue_code(issuer.sign(id_claims)), state)
    return response, id_claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestGoogleSignIn:
    async def test_new_user_is_created_and_signed_in(
        self, client: AsyncClient, session: AsyncSession, issuer: FakeIssuer
    ) -> None:
        response, claims = await _sign_in(client, issuer)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["email"] == claims["email"]
        assert body["user"]["full_name"] == "Gina Google"
        assert body["user"]["role"] == "buyer"
        # Google verified the address: no verification e-mail is needed.
        assert body["user"]["email_verified_at"] is not None
        me = await client.get("/api/users/me", headers=bearer(body))
        assert me.status_code == 200
        sessions = (await client.get("/api/auth/sessions", headers=bearer(body))).json()
        assert [s["method"] for s in sessions] == ["google"]
        # The code was exchanged with our client credentials.
        assert issuer.token_requests[0]["client_secret"] == [CLIENT_SECRET]
        assert len(issuer.token_requests[0]["code_verifier"][0]) >= 43

    async def test_same_google_account_signs_into_the_same_user(
        self, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        first, claims = await _sign_in(client, issuer)
        second, _ = await _sign_in(client, issuer, sub=claims["sub"], email="changed@gmail.test")
        assert second.json()["user"]["id"] == first.json()["user"]["id"]

    async def test_links_to_an_existing_account_by_verified_email(
        self, client: AsyncClient, session: AsyncSession, issuer: FakeIssuer
    ) -> None:
        user = await create_user(session, email="existing-person@example.com")
        response, claims = await _sign_in(client, issuer, email="Existing-Person@example.com")
        assert response.json()["user"]["id"] == str(user.id)
        assert response.json()["user"]["email_verified_at"] is not None
        identity = await session.scalar(select(UserIdentity).where(UserIdentity.user_id == user.id))
        assert identity is not None
        assert identity.subject == claims["sub"]

    async def test_unverified_email_is_not_linked(
        self, client: AsyncClient, session: AsyncSession, issuer: FakeIssuer
    ) -> None:
        await create_user(session, email="victim@example.com")
        response, _ = await _sign_in(
            client, issuer, email="victim@example.com", email_verified=False
        )
        assert response.status_code == 403
        assert response.json()["code"] == "email_not_verified"

    async def test_deactivated_user_cannot_sign_in_with_google(
        self, client: AsyncClient, session: AsyncSession, issuer: FakeIssuer
    ) -> None:
        user = await create_user(session, is_active=False)
        response, _ = await _sign_in(client, issuer, email=user.email)
        assert response.json()["code"] == "account_disabled"


class TestProviderDocuments:
    async def test_discovery_and_keys_are_fetched_once(
        self, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        for _ in range(3):
            response, _ = await _sign_in(client, issuer)
            assert response.status_code == 200
        assert issuer.fetches == {"discovery": 1, "jwks": 1}

    async def test_a_rotated_key_is_picked_up(
        self, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        await _sign_in(client, issuer)
        issuer.rotate_key()
        response, _ = await _sign_in(client, issuer)
        assert response.status_code == 200
        assert issuer.fetches["jwks"] == 2


class TestGoogleRefusals:
    async def test_state_is_single_use(self, client: AsyncClient, issuer: FakeIssuer) -> None:
        state, nonce = await _authorize(client, issuer)
        token = issuer.sign(issuer.claims(nonce))
        assert (await _callback(client, issuer.issue_code(token), state)).status_code == 200
        replay = await _callback(client, issuer.issue_code(token), state)
        assert replay.status_code == 400
        assert replay.json()["code"] == "oauth_state_invalid"

    async def test_code_issued_for_another_flow_is_refused(
        self, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        # PKCE: a code intercepted from someone else's flow fails our verifier.
        state, nonce = await _authorize(client, issuer)
        issuer.consent("challenge-of-a-flow-we-did-not-start")
        stolen = issuer.issue_code(issuer.sign(issuer.claims(nonce)))
        response = await _callback(client, stolen, state)
        assert response.json()["code"] == "oauth_code_rejected"

    async def test_unknown_state(self, client: AsyncClient, issuer: FakeIssuer) -> None:
        response = await _callback(client, "any-code", "made-up-state")
        assert response.json()["code"] == "oauth_state_invalid"

    async def test_state_stays_spent_after_a_failed_callback(
        self, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        state, nonce = await _authorize(client, issuer)
        failed = await _callback(client, "not-a-code-the-issuer-gave", state)
        assert failed.json()["code"] == "oauth_code_rejected"
        retry = await _callback(client, issuer.issue_code(issuer.sign(issuer.claims(nonce))), state)
        assert retry.json()["code"] == "oauth_state_invalid"

    @pytest.mark.parametrize(
        ("claims", "why"),
        [
            ({"nonce": "another-nonce"}, "nonce"),
            ({"aud": "someone-elses-client"}, "audience"),
            ({"iss": "https://evil.test"}, "issuer"),
            ({"exp": 1_000_000_000, "iat": 999_999_000}, "expired"),
        ],
    )
    async def test_bad_claims_are_refused(
        self, client: AsyncClient, issuer: FakeIssuer, claims: dict[str, Any], why: str
    ) -> None:
        response, _ = await _sign_in(client, issuer, **claims)
        assert response.status_code == 401, why
        assert response.json()["code"] == "id_token_invalid"

    async def test_token_signed_by_another_key_is_refused(
        self, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        state, nonce = await _authorize(client, issuer)
        rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = issuer.sign(issuer.claims(nonce), key=rogue)
        response = await _callback(client, issuer.issue_code(forged), state)
        assert response.json()["code"] == "id_token_invalid"

    async def test_alg_none_is_refused(self, client: AsyncClient, issuer: FakeIssuer) -> None:
        state, nonce = await _authorize(client, issuer)
        header = _b64(json.dumps({"alg": "none", "kid": issuer.kid}).encode())
        payload = _b64(json.dumps(issuer.claims(nonce)).encode())
        response = await _callback(client, issuer.issue_code(f"{header}.{payload}."), state)
        assert response.json()["code"] == "id_token_invalid"

    async def test_hs256_signed_with_the_issuers_public_key_is_refused(
        self, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        # HS/RS confusion: the attacker HMACs with the public key the JWKS publishes.
        state, nonce = await _authorize(client, issuer)
        public_pem = issuer.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = _b64(json.dumps({"alg": "HS256", "kid": issuer.kid}).encode())
        payload = _b64(json.dumps(issuer.claims(nonce)).encode())
        signature = _b64(
            hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        )
        forged = f"{header}.{payload}.{signature}"
        response = await _callback(client, issuer.issue_code(forged), state)
        assert response.json()["code"] == "id_token_invalid"

    async def test_starting_sign_ins_is_rate_limited_per_ip(
        self, app: FastAPI, client: AsyncClient, issuer: FakeIssuer
    ) -> None:
        settings: Settings = app.state.settings
        configure(app, settings, "auth", oauth_starts_per_ip=1)
        await _authorize(client, issuer)
        response = await client.get("/api/auth/google/authorize")
        assert response.status_code == 429
        assert "Retry-After" in response.headers

    async def test_not_configured(self, client: AsyncClient) -> None:
        response = await client.get("/api/auth/google/authorize")
        assert response.status_code == 503
        assert response.json()["code"] == "google_sign_in_disabled"

    async def test_no_user_is_created_when_verification_fails(
        self, client: AsyncClient, session: AsyncSession, issuer: FakeIssuer
    ) -> None:
        response, claims = await _sign_in(client, issuer, aud="someone-elses-client")
        assert response.status_code == 401
        assert await session.scalar(select(User).where(User.email == claims["email"])) is None
