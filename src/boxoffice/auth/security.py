"""Password hashing (Argon2id) and access tokens (JWT)."""

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


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


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


def decode_access_token(settings: AuthSettings, token: str) -> AccessClaims:
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
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
