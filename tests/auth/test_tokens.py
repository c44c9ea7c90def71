"""Access tokens that are tampered with, expired or signed another way get 401."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import security
from boxoffice.auth.models import Role, User
from boxoffice.auth.security import (
    AccessClaims,
    InvalidToken,
    create_access_token,
    decode_access_token,
)
from boxoffice.config import AuthSettings, Settings
from boxoffice.kit.time import utcnow
from tests.factories import create_user


def _claims(user: User, settings: Settings, **overrides: object) -> dict[str, object]:
    now = utcnow()
    claims: dict[str, object] = {
        "sub": str(user.id),
        "role": user.role.value,
        "tv": user.token_version,
        "iss": settings.auth.issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "typ": "access",
    }
    claims.update(overrides)
    return claims


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _status(client: AsyncClient, token: str) -> tuple[int, str]:
    response = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json().get("code", "")


class TestAccessTokenValidation:
    async def test_a_valid_token_is_accepted(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Callable[[User], dict[str, str]],
    ) -> None:
        user = await create_user(session)
        response = await client.get("/api/users/me", headers=auth_headers(user))
        assert response.status_code == 200

    async def test_missing_token(self, client: AsyncClient) -> None:
        response = await client.get("/api/users/me")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_tampered_payload(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await create_user(session)
        token = create_access_token(settings.auth, user_id=user.id, role=user.role, token_version=0)
        header, _, signature = token.split(".")
        forged = f"{header}.{_b64(_claims(user, settings, role=Role.admin.value))}.{signature}"
        assert await _status(client, forged) == (401, "invalid_token")

    async def test_tampered_signature(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await create_user(session)
        token = create_access_token(settings.auth, user_id=user.id, role=user.role, token_version=0)
        flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        assert await _status(client, flipped) == (401, "invalid_token")

    async def test_expired(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await create_user(session)
        token = create_access_token(
            settings.auth,
            user_id=user.id,
            role=user.role,
            token_version=0,
            ttl=timedelta(seconds=-60),
        )
        assert await _status(client, token) == (401, "invalid_token")

    async def test_alg_none(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await create_user(session)
        unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user, settings))}."
        assert await _status(client, unsigned) == (401, "invalid_token")

    async def test_rs256_token_is_refused_by_an_hs256_server(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await create_user(session)
        attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(_claims(user, settings), attacker_key, algorithm="RS256")
        assert await _status(client, token) == (401, "invalid_token")

    async def test_hs256_signed_with_a_public_key_is_refused(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        # The classic HS/RS confusion: an RSA public key (public knowledge) used as HMAC key.
        user = await create_user(session)
        public_pem = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        header = _b64({"alg": "HS256", "typ": "JWT"})
        payload = _b64(_claims(user, settings))
        signature = (
            base64.urlsafe_b64encode(
                hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            )
            .rstrip(b"=")
            .decode()
        )
        assert await _status(client, f"{header}.{payload}.{signature}") == (401, "invalid_token")

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    @pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
    async def test_other_hmac_algorithm_with_the_right_key_is_refused(
        self, client: AsyncClient, session: AsyncSession, settings: Settings, algorithm: str
    ) -> None:
        user = await create_user(session)
        token = jwt.encode(
            _claims(user, settings),
            settings.auth.jwt_secret.get_secret_value(),
            algorithm=algorithm,
        )
        assert await _status(client, token) == (401, "invalid_token")

    async def test_wrong_secret(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await create_user(session)
        token = jwt.encode(
            _claims(user, settings), "another-secret-of-sufficient-length!!", algorithm="HS256"
        )
        assert await _status(client, token) == (401, "invalid_token")

    async def test_wrong_issuer_and_wrong_type(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await create_user(session)
        secret = settings.auth.jwt_secret.get_secret_value()
        other_issuer = jwt.encode(_claims(user, settings, iss="elsewhere"), secret, "HS256")
        not_access = jwt.encode(_claims(user, settings, typ="refresh"), secret, "HS256")
        assert await _status(client, other_issuer) == (401, "invalid_token")
        assert await _status(client, not_access) == (401, "invalid_token")

    async def test_token_from_before_a_token_version_bump(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Callable[[User], dict[str, str]],
    ) -> None:
        user = await create_user(session)
        headers = auth_headers(user)
        user.token_version += 1
        await session.flush()
        response = await client.get("/api/users/me", headers=headers)
        assert response.json()["code"] == "invalid_token"


class TestVerifiedTokenCache:
    """A verified token is remembered until its `exp`, and only for the key that checked it."""

    def test_a_remembered_token_is_checked_again_after_its_exp(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = Settings().auth
        token = create_access_token(
            settings, user_id=uuid.uuid4(), role=Role.buyer, token_version=0
        )
        verified: list[str] = []
        verify = security._verify_access_token

        def counting(auth: AuthSettings, raw: str) -> tuple[AccessClaims, int]:
            verified.append(raw)
            return verify(auth, raw)

        monkeypatch.setattr(security, "_verify_access_token", counting)
        decode_access_token(settings, token)
        decode_access_token(settings, token)
        assert len(verified) == 1  # the second use was remembered
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        monkeypatch.setattr(time, "time", lambda: expires + 1)
        decode_access_token(settings, token)
        assert len(verified) == 2  # past its exp the signature and claims are checked anew

    def test_a_token_remembered_under_one_key_is_refused_under_another(self) -> None:
        signer = Settings().auth
        token = create_access_token(signer, user_id=uuid.uuid4(), role=Role.buyer, token_version=0)
        decode_access_token(signer, token)
        rotated = signer.model_copy(update={"jwt_secret": SecretStr("another-secret-" * 3)})
        with pytest.raises(InvalidToken):
            decode_access_token(rotated, token)
