"""Who is calling: `CurrentUser`, `OptionalUser`, and `require(permission)`."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from boxoffice.auth import repository
from boxoffice.auth.errors import (
    AccountDisabled,
    InvalidAccessToken,
    PermissionDenied,
    SessionRevoked,
)
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.auth.security import InvalidToken, decode_access_token
from boxoffice.config import Settings
from boxoffice.db.engine import Transaction
from boxoffice.kit.ratelimit import enforce, get_rate_limiter

BEARER = "HTTPBearer"
_bearer = HTTPBearer(
    auto_error=False, scheme_name=BEARER, description="Access token from /api/auth/login"
)
OPTIONAL_BEARER = "HTTPBearerOptional"
"""The scheme of routes that serve anyone and tell a signed-in caller apart; the OpenAPI
document lists their bearer token as optional (`app._problem_openapi`)."""
_optional_bearer = HTTPBearer(
    auto_error=False, scheme_name=OPTIONAL_BEARER, description="Access token, if signed in"
)


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_app_settings)]


async def _user_from_token(
    request: Request,
    tx: Transaction,
    settings: AppSettings,
    credentials: HTTPAuthorizationCredentials | None,
) -> User | None:
    if credentials is None:
        return None
    try:
        claims = decode_access_token(settings.auth, credentials.credentials)
    except InvalidToken as exc:
        raise InvalidAccessToken() from exc
    # One indexed round trip per request (user joined to the token's session), so
    # deactivation, password changes and sign-outs take effect at once.
    loaded = await repository.load_token_user(tx, claims.user_id, claims.session_id)
    if loaded is None:
        raise InvalidAccessToken()
    user, session_live = loaded
    if user.token_version != claims.token_version:
        raise InvalidAccessToken()
    if not user.is_active:
        raise AccountDisabled()
    if not session_live:
        raise SessionRevoked()
    request.state.auth_session_id = claims.session_id
    return user


async def optional_user(
    request: Request,
    tx: Transaction,
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
) -> User | None:
    return await _user_from_token(request, tx, settings, credentials)


async def current_user(
    request: Request,
    tx: Transaction,
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    user = await _user_from_token(request, tx, settings, credentials)
    if user is None:
        raise InvalidAccessToken("Sign in and send 'Authorization: Bearer <access token>'")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


async def current_session_id(request: Request, user: CurrentUser) -> uuid.UUID | None:
    """The session (device) of the calling access token, if it carries one."""
    session_id: uuid.UUID | None = getattr(request.state, "auth_session_id", None)
    return session_id


CurrentSessionId = Annotated[uuid.UUID | None, Depends(current_session_id)]


def require(permission: Permission) -> Callable[[User], Awaitable[User]]:
    """Dependency factory: the caller, if their role grants `permission`, else 403."""

    async def dependency(user: CurrentUser) -> User:
        if not has_permission(user.role, permission):
            raise PermissionDenied(f"Requires permission '{permission.value}'")
        return user

    return dependency


async def _export_allowance(request: Request, user: CurrentUser, settings: AppSettings) -> None:
    await enforce(
        await get_rate_limiter(request),
        f"export:user:{user.id}",
        limit=settings.http.exports_per_hour,
        window_seconds=3600,
        what="exports asked for",
    )


ExportAllowance = Annotated[None, Depends(_export_allowance)]
"""Counts one whole export against the caller's hourly allowance (429 past it)."""
