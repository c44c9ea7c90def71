"""Sign in with Google: the OpenID Connect authorization-code flow.

`authorize` makes the provider URL with a single-use `state`, a `nonce` and a PKCE challenge
(S256), all kept server-side; `callback` spends the state, exchanges the code (with the PKCE
verifier and our client credentials) at the token endpoint, verifies the ID token
(signature against the issuer's JWKS, `iss`, `aud`, `exp`, `nonce`), then links or creates
the account and opens a session. Any OIDC issuer works; tests use a fake one.
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import repository, service
from boxoffice.auth.errors import (
    AccountDisabled,
    EmailNotVerified,
    GoogleSignInDisabled,
    IdTokenInvalid,
    OAuthCodeRejected,
    OAuthStateInvalid,
    ProviderUnavailable,
)
from boxoffice.auth.models import OAuthState, Role, User, UserIdentity
from boxoffice.auth.security import hash_opaque_token, new_opaque_token
from boxoffice.config import AuthSettings, GoogleSettings
from boxoffice.kit.time import utcnow

log = structlog.get_logger(__name__)

PROVIDER = "google"
ID_TOKEN_ALGORITHMS = ["RS256"]
"""What Google signs with; anything else (HS*, none) is refused before key lookup."""
GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def _require_configured(settings: GoogleSettings) -> tuple[str, str]:
    if not settings.client_id or settings.client_secret is None:
        raise GoogleSignInDisabled()
    return settings.client_id, settings.client_secret.get_secret_value()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def _get_json(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await http.get(url)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("oidc_provider_error", url=url, error=type(exc).__name__)
        raise ProviderUnavailable() from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable()
    return body


class OidcDocumentCache:
    """Discovery documents and key sets, kept per process for `max_age` seconds."""

    def __init__(
        self, max_age: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._documents: dict[str, tuple[float, dict[str, Any]]] = {}
        self._max_age = max_age
        self._clock = clock

    def get(self, url: str) -> dict[str, Any] | None:
        entry = self._documents.get(url)
        if entry is None or self._clock() - entry[0] > self._max_age:
            return None
        return entry[1]

    def put(self, url: str, document: dict[str, Any]) -> None:
        self._documents[url] = (self._clock(), document)


@dataclass
class OidcClient:
    """HTTP to the identity provider, with its public documents cached."""

    http: httpx.AsyncClient
    cache: OidcDocumentCache = field(default_factory=OidcDocumentCache)

    async def get_json(self, url: str, *, fresh: bool = False) -> dict[str, Any]:
        if not fresh and (cached := self.cache.get(url)) is not None:
            return cached
        document = await _get_json(self.http, url)
        self.cache.put(url, document)
        return document


async def discover(oidc: OidcClient, settings: GoogleSettings) -> Provider:
    """Read the issuer's discovery document (endpoints and key set location)."""
    issuer = settings.issuer.rstrip("/")
    document = await oidc.get_json(f"{issuer}/.well-known/openid-configuration")
    try:
        return Provider(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            jwks_uri=str(document["jwks_uri"]),
        )
    except KeyError as exc:
        raise ProviderUnavailable("The issuer's discovery document is incomplete") from exc


async def authorize(
    session: AsyncSession, settings: GoogleSettings, oidc: OidcClient
) -> tuple[str, str]:
    """Start a sign-in: the URL to send the browser to, and its `state`."""
    client_id, _ = _require_configured(settings)
    provider = await discover(oidc, settings)
    state, nonce, verifier = new_opaque_token(), new_opaque_token(), new_opaque_token()
    await repository.add_oauth_state(
        session,
        OAuthState(
            state_hash=hash_opaque_token(state),
            provider=PROVIDER,
            nonce=nonce,
            code_verifier=verifier,
            expires_at=utcnow() + timedelta(seconds=settings.state_ttl_seconds),
        ),
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": settings.redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    return f"{provider.authorization_endpoint}?{query}", state


async def _exchange_code(
    http: httpx.AsyncClient,
    provider: Provider,
    settings: GoogleSettings,
    code: str,
    code_verifier: str,
) -> str:
    client_id, client_secret = _require_configured(settings)
    try:
        response = await http.post(
            provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": settings.redirect_uri,
                "client_id": client_id,
                "client_secret": client_secret,
                "code_verifier": code_verifier,
            },
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise ProviderUnavailable() from exc
    if response.status_code in (400, 401):
        raise OAuthCodeRejected()
    if response.status_code != 200:
        raise ProviderUnavailable()
    try:
        id_token = response.json()["id_token"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderUnavailable("The token response carries no ID token") from exc
    if not isinstance(id_token, str):
        raise ProviderUnavailable("The token response carries no ID token")
    return id_token


async def _signing_key(oidc: OidcClient, provider: Provider, kid: str) -> jwt.PyJWK:
    """The issuer's key `kid`; an unknown kid refetches the key set once (key rotation)."""
    for fresh in (False, True):
        jwks = await oidc.get_json(provider.jwks_uri, fresh=fresh)
        try:
            return jwt.PyJWKSet.from_dict(jwks)[kid]
        except KeyError:
            continue
        except jwt.PyJWTError as exc:
            raise IdTokenInvalid("The issuer's key set is unusable") from exc
    raise IdTokenInvalid("No key of the issuer matches the token")


async def verify_id_token(
    oidc: OidcClient,
    provider: Provider,
    settings: GoogleSettings,
    id_token: str,
    nonce: str,
) -> dict[str, Any]:
    """Check the ID token's signature against the issuer's JWKS, and iss, aud, exp, nonce."""
    client_id, _ = _require_configured(settings)
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise IdTokenInvalid() from exc
    if header.get("alg") not in ID_TOKEN_ALGORITHMS:
        raise IdTokenInvalid(f"Signature algorithm {header.get('alg')!r} is not accepted")
    signing_key = await _signing_key(oidc, provider, str(header.get("kid")))
    issuers = [settings.issuer.rstrip("/")]
    if issuers[0] == GOOGLE_ISSUER:
        issuers.append("accounts.google.com")  # Google uses both forms
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=signing_key.key,
            algorithms=ID_TOKEN_ALGORITHMS,
            audience=client_id,
            issuer=issuers,
            leeway=30,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise IdTokenInvalid(f"The ID token failed verification: {exc}") from exc
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise IdTokenInvalid("The ID token's nonce does not match the sign-in request")
    return claims


async def _user_for_claims(session: AsyncSession, claims: dict[str, Any]) -> User:
    subject = str(claims["sub"])
    user = await repository.get_identity_user(session, PROVIDER, subject)
    if user is not None:
        return user
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") not in (True, "true"):
        raise EmailNotVerified()
    user = await repository.get_user_by_email(session, email)
    if user is not None and user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the provider verified it
    if user is None:
        user = User(
            email=email,
            password_hash=None,
            full_name=str(claims.get("name", ""))[:200],
            email_verified_at=utcnow(),
        )
        user.role = Role.buyer
        session.add(user)
        await session.flush()
        await session.refresh(user)
        log.info("user_registered", user_id=str(user.id), via=PROVIDER)
    try:
        async with session.begin_nested():
            await repository.add_identity(
                session,
                UserIdentity(user_id=user.id, provider=PROVIDER, subject=subject, email=email),
            )
    except IntegrityError as exc:  # a concurrent callback linked the same account first
        raise OAuthStateInvalid() from exc
    log.info("identity_linked", user_id=str(user.id), provider=PROVIDER)
    return user


async def callback(
    session: AsyncSession,
    auth_settings: AuthSettings,
    settings: GoogleSettings,
    oidc: OidcClient,
    *,
    code: str,
    state: str,
    client: service.Client,
) -> service.IssuedTokens:
    """Finish a sign-in: spend `state`, exchange `code`, verify, link or create, sign in.

    Errors after the state is spent leave it spent: the caller lets the transaction commit.
    """
    _require_configured(settings)
    pending = await repository.consume_oauth_state(session, hash_opaque_token(state), PROVIDER)
    if pending is None:
        raise OAuthStateInvalid()
    nonce, code_verifier = pending
    provider = await discover(oidc, settings)
    id_token = await _exchange_code(oidc.http, provider, settings, code, code_verifier)
    claims = await verify_id_token(oidc, provider, settings, id_token, nonce)
    user = await _user_for_claims(session, claims)
    if not user.is_active:
        raise AccountDisabled()
    return await service.start_session(session, auth_settings, user, method=PROVIDER, client=client)
