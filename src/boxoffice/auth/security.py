"""Password hashing (Argon2id), password rules, access tokens (JWT), opaque secrets."""

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from boxoffice.auth.models import Role
from boxoffice.config import AuthSettings
from boxoffice.kit.time import utcnow

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
# Verified against when the e-mail is unknown, so a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash("boxoffice-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; constant work whether or not a hash exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    """`hash_password` in a worker thread: Argon2 takes tens of milliseconds of CPU (and
    releases the GIL), which must not stall every other request on the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    """`verify_password` in a worker thread (see `hash_password_off_loop`)."""
    return await asyncio.to_thread(verify_password, password_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


PASSWORD_MAX_LENGTH = 128
"""Upper bound so a huge body cannot make hashing expensive."""
_COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "passw0rd",
        "123456789",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "iloveyou123",
        "letmein123",
        "welcome123",
        "administrator",
        "boxoffice123",
    }
)


def password_problems(password: str, *, min_length: int, email: str | None = None) -> list[str]:
    """Why `password` is not acceptable, one readable sentence per rule broken (empty: ok)."""
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"must be at most {PASSWORD_MAX_LENGTH} characters long")
    if password.strip() != password:
        problems.append("must not start or end with whitespace")
    if len(set(password)) < 4:
        problems.append("must contain at least 4 different characters")
    if password.lower() in _COMMON_PASSWORDS:
        problems.append("is too common")
    if email and password.lower() in {email.lower(), email.split("@", 1)[0].lower()}:
        problems.append("must not be your e-mail address")
    return problems


def new_opaque_token() -> str:
    """A random URL-safe secret with 256 bits of entropy (refresh tokens, OAuth state)."""
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> bytes:
    """SHA-256 of a high-entropy secret: enough to store it, useless to a database thief."""
    return hashlib.sha256(token.encode()).digest()


def new_otp_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def hash_otp_code(settings: AuthSettings, verification_id: uuid.UUID, code: str) -> bytes:
    """Keyed hash: a six-digit code is too small a space for a plain hash to protect it."""
    key = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(key, f"otp:{verification_id}:{code}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: Role
    token_version: int
    session_id: uuid.UUID | None


class InvalidToken(Exception):
    """The token is malformed, tampered with, expired, or signed another way."""


def create_access_token(
    settings: AuthSettings,
    *,
    user_id: uuid.UUID,
    role: Role,
    token_version: int,
    session_id: uuid.UUID | None = None,
    ttl: timedelta | None = None,
) -> str:
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role.value,
        "tv": token_version,
        "iss": settings.issuer,
        "iat": int(now.timestamp()),
        "exp": int(
            (now + (ttl or timedelta(seconds=settings.access_token_ttl_seconds))).timestamp()
        ),
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    return jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )


_VERIFIED: dict[tuple[str, str, str, str], tuple[AccessClaims, int]] = {}
"""Tokens whose signature and claims were checked, keyed with the key and rules that checked
them, until their `exp`. Verifying an HS256 JWT costs ~0.3 ms of CPU per request; a buyer
sends the same token with every request."""
_VERIFIED_MAX = 50_000


def decode_access_token(settings: AuthSettings, token: str) -> AccessClaims:
    """The token's claims if it is signed with our key, unexpired and an access token."""
    key = (settings.jwt_secret.get_secret_value(), settings.jwt_algorithm, settings.issuer, token)
    cached = _VERIFIED.get(key)
    if cached is not None:
        claims, expires = cached
        if time.time() < expires:
            return claims
        del _VERIFIED[key]
    claims, expires = _verify_access_token(settings, token)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = (claims, expires)
    return claims


def _verify_access_token(settings: AuthSettings, token: str) -> tuple[AccessClaims, int]:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            issuer=settings.issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        sid = claims.get("sid")
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            role=Role(claims["role"]),
            token_version=int(claims["tv"]),
            session_id=uuid.UUID(sid) if sid else None,
        ), int(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
