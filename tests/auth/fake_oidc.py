"""A fake OpenID Connect issuer (discovery, token endpoint, JWKS) served as an ASGI app.

The tests reach it through an injected httpx transport: a fake at the network edge, speaking
the real formats (RFC 8414 discovery, RFC 6749 token request, RFC 7517 JWKS, RS256 ID tokens).
"""

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISSUER = "https://issuer.test"
CLIENT_ID = "boxoffice-client-id"
CLIENT_SECRET = "boxoffice-client-secret-value"
REDIRECT_URI = "https://app.test/auth/google/callback"


class FakeIssuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.codes: dict[str, tuple[str, str | None]] = {}
        self.pending_challenge: str | None = None
        self.token_requests: list[dict[str, list[str]]] = []
        self.fetches = {"discovery": 0, "jwks": 0}
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    def claims(self, expected_nonce: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "google-subject-" + secrets.token_hex(4),
            "email": f"g-{secrets.token_hex(4)}@gmail.test",
            "email_verified": True,
            "name": "Gina Google",
            "iat": now,
            "exp": now + 600,
            "nonce": expected_nonce,
        }
        claims.update(overrides)
        return claims

    def sign(self, claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
        return jwt.encode(
            claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def consent(self, code_challenge: str) -> None:
        """The user reached /authorize with this PKCE challenge and agreed."""
        self.pending_challenge = code_challenge

    def issue_code(self, id_token: str) -> str:
        """What the provider would hand the browser after the user consents."""
        code = secrets.token_urlsafe(16)
        self.codes[code] = (id_token, self.pending_challenge)
        return code

    def rotate_key(self) -> None:
        """Start signing with a new key under a new kid (the old one is withdrawn)."""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"{self.kid}-next"

    async def discovery(self, request: Request) -> JSONResponse:
        self.fetches["discovery"] += 1
        return JSONResponse(
            {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        self.fetches["jwks"] += 1
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": [jwk]})

    async def token(self, request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        self.token_requests.append(form)
        valid_client = form.get("client_id") == [CLIENT_ID] and form.get("client_secret") == [
            CLIENT_SECRET
        ]
        if not valid_client:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        code = (form.get("code") or [""])[0]
        if (
            form.get("grant_type") != ["authorization_code"]
            or form.get("redirect_uri") != [REDIRECT_URI]
            or code not in self.codes
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        id_token, challenge = self.codes.pop(code)
        verifier = (form.get("code_verifier") or [""])[0]
        digest = hashlib.sha256(verifier.encode()).digest()
        if challenge is not None and base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != (
            challenge
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {
                "access_token": "provider-access-token",
                "token_type": "Bearer",
                "expires_in": 3599,
                "id_token": id_token,
            }
        )
