"""Sign-in: register, log in, refresh (with rotation and reuse detection), sessions."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import email_verification, repository
from boxoffice.auth.errors import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    SessionNotFound,
    WeakPassword,
    WrongPassword,
)
from boxoffice.auth.models import AuthSession, Role, User
from boxoffice.auth.security import (
    create_access_token,
    hash_opaque_token,
    hash_password_off_loop,
    new_opaque_token,
    password_needs_rehash,
    password_problems,
    verify_password_off_loop,
)
from boxoffice.config import AuthSettings
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.kit.time import utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from, as recorded on its session."""

    user_agent: str | None
    ip: str | None


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User
    session_id: uuid.UUID


def check_password(settings: AuthSettings, password: str, email: str | None) -> None:
    """Raise `weak_password` listing every rule the password breaks."""
    problems = password_problems(password, min_length=settings.password_min_length, email=email)
    if problems:
        raise WeakPassword(
            "The password " + "; ".join(problems), extra={"password_problems": problems}
        )


async def _issue_refresh_token(
    session: AsyncSession,
    settings: AuthSettings,
    *,
    auth_session_id: uuid.UUID,
    user_id: uuid.UUID,
    parent_id: uuid.UUID | None = None,
) -> str:
    token = new_opaque_token()
    await repository.add_refresh_token(
        session,
        session_id=auth_session_id,
        user_id=user_id,
        token_hash=hash_opaque_token(token),
        expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        parent_id=parent_id,
    )
    return token


def _access_token(settings: AuthSettings, user: User, auth_session_id: uuid.UUID) -> str:
    return create_access_token(
        settings,
        user_id=user.id,
        role=user.role,
        token_version=user.token_version,
        session_id=auth_session_id,
    )


async def start_session(
    session: AsyncSession, settings: AuthSettings, user: User, *, method: str, client: Client
) -> IssuedTokens:
    """Open a new session (device) for `user` and issue its first token pair."""
    auth_session = await repository.create_session(
        session, user_id=user.id, method=method, user_agent=client.user_agent, ip=client.ip
    )
    refresh = await _issue_refresh_token(
        session, settings, auth_session_id=auth_session.id, user_id=user.id
    )
    log.info("session_started", user_id=str(user.id), session_id=str(auth_session.id))
    return IssuedTokens(
        access_token=_access_token(settings, user, auth_session.id),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_seconds,
        user=user,
        session_id=auth_session.id,
    )


async def register(
    session: AsyncSession,
    settings: AuthSettings,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    full_name: str,
    role: Role,
    client: Client,
) -> IssuedTokens:
    """Create an account with a password and sign it in (rate-limited per IP)."""
    if client.ip:
        await enforce(
            limiter,
            f"register:ip:{client.ip}",
            limit=settings.register_per_ip,
            window_seconds=3600,
            what="accounts created from this address",
        )
    check_password(settings, password, email)
    if await repository.get_user_by_email(session, email) is not None:
        raise EmailTaken()
    user = User(
        email=email,
        password_hash=await hash_password_off_loop(password),
        full_name=full_name.strip(),
        role=role,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the unique index
        raise EmailTaken() from exc
    await session.refresh(user)
    await email_verification.queue(session, user)
    log.info("user_registered", user_id=str(user.id), role=role.value)
    return await start_session(session, settings, user, method="register", client=client)


async def login(
    session: AsyncSession,
    settings: AuthSettings,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    client: Client,
) -> IssuedTokens:
    """Check e-mail and password (rate-limited per account and per IP) and open a session."""
    window = settings.login_window_seconds
    if client.ip:
        await enforce(
            limiter,
            f"login:ip:{client.ip}",
            limit=settings.login_attempts_per_ip,
            window_seconds=window,
            what="sign-in attempts from this address",
        )
    await enforce(
        limiter,
        f"login:account:{email.strip().lower()}",
        limit=settings.login_attempts_per_account,
        window_seconds=window,
        what="sign-in attempts for this account",
    )
    user = await repository.get_user_by_email(session, email.strip())
    # Verify even when the user is unknown, so timing does not reveal which e-mails exist.
    password_hash = user.password_hash if user else None
    if not await verify_password_off_loop(password_hash, password) or user is None:
        log.info("login_failed", user_id=str(user.id) if user else None)
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDisabled()
    if user.password_hash and password_needs_rehash(user.password_hash):
        user.password_hash = await hash_password_off_loop(password)
    return await start_session(session, settings, user, method="password", client=client)


async def refresh(
    session: AsyncSession, settings: AuthSettings, *, refresh_token: str, client: Client
) -> IssuedTokens:
    """Spend a refresh token for a new pair; a spent token's reuse revokes its session.

    Raises `RefreshTokenReused` *after* flushing the revocation: the caller must let the
    transaction commit (the router returns the error instead of raising it).
    """
    token_hash = hash_opaque_token(refresh_token)
    if not await repository.lock_token_session(session, token_hash):
        raise InvalidRefreshToken()
    spent = await repository.spend_refresh_token(session, token_hash)
    if spent is None:
        known = await repository.find_refresh_token(session, token_hash)
        if known is not None and known.used_at is not None:
            revoked = await repository.revoke_sessions(
                session,
                user_id=known.user_id,
                reason="refresh_reuse",
                session_ids=[known.session_id],
            )
            log.warning(
                "refresh_token_reused",
                user_id=str(known.user_id),
                session_id=str(known.session_id),
                revoked=len(revoked),
            )
            raise RefreshTokenReused()
        raise InvalidRefreshToken()
    user = await session.get(User, spent.user_id)
    if user is None or not user.is_active:
        raise AccountDisabled()
    await repository.touch_session(session, spent.session_id, ip=client.ip)
    new_refresh = await _issue_refresh_token(
        session, settings, auth_session_id=spent.session_id, user_id=user.id, parent_id=spent.id
    )
    return IssuedTokens(
        access_token=_access_token(settings, user, spent.session_id),
        refresh_token=new_refresh,
        expires_in=settings.access_token_ttl_seconds,
        user=user,
        session_id=spent.session_id,
    )


async def logout(session: AsyncSession, user: User, session_id: uuid.UUID | None) -> None:
    """Revoke the caller's session (its refresh tokens and access tokens stop working)."""
    if session_id is not None:
        await repository.revoke_sessions(
            session, user_id=user.id, reason="logout", session_ids=[session_id]
        )


async def list_sessions(session: AsyncSession, user: User) -> Sequence[AuthSession]:
    return await repository.list_live_sessions(session, user.id)


async def revoke_session(session: AsyncSession, user: User, session_id: uuid.UUID) -> None:
    """Sign one of the caller's own devices out; another user's session is a 404."""
    revoked = await repository.revoke_sessions(
        session, user_id=user.id, reason="revoked_by_user", session_ids=[session_id]
    )
    if not revoked:
        raise SessionNotFound()


async def revoke_other_sessions(
    session: AsyncSession, user: User, current_session_id: uuid.UUID | None
) -> int:
    """Sign out every device of the caller except the one making the request."""
    revoked = await repository.revoke_sessions(
        session, user_id=user.id, reason="revoked_by_user", except_session_id=current_session_id
    )
    return len(revoked)


async def change_password(
    session: AsyncSession,
    settings: AuthSettings,
    user: User,
    *,
    current_password: str,
    new_password: str,
    current_session_id: uuid.UUID | None,
) -> None:
    """Replace the password after checking the current one; every other session ends."""
    if not await verify_password_off_loop(user.password_hash, current_password):
        raise WrongPassword()
    check_password(settings, new_password, user.email)
    user.password_hash = await hash_password_off_loop(new_password)
    await session.flush()
    await repository.revoke_sessions(
        session, user_id=user.id, reason="password_changed", except_session_id=current_session_id
    )
    log.info("password_changed", user_id=str(user.id))


async def end_all_sessions(session: AsyncSession, user: User, reason: str) -> None:
    """Revoke every session and every access token of `user` (deactivation, deletion)."""
    user.token_version += 1
    await session.flush()
    await repository.revoke_sessions(session, user_id=user.id, reason=reason)
