"""SQL of sign-in: users by e-mail, sessions, refresh tokens."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from boxoffice.auth.models import (
    AuthSession,
    OAuthState,
    PhoneVerification,
    RefreshToken,
    User,
    UserIdentity,
)
from boxoffice.db import driver
from boxoffice.db.driver import Sql
from boxoffice.db.transaction import Db, of, orm


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    # users.email is CITEXT: the comparison is case-insensitive.
    result = await session.scalars(select(User).where(User.email == email))
    return result.one_or_none()


_USER_ATTRS = [
    (attr.key, getattr(attr.columns[0].type, "enum_class", None))
    for attr in User.__mapper__.column_attrs
]
_USER_MANAGER = User.__mapper__.class_manager
_USER_COLUMNS = ", ".join(f"u.{attr.columns[0].name}" for attr in User.__mapper__.column_attrs)
_TOKEN_USER = Sql(
    f"SELECT {_USER_COLUMNS}, s.id, s.revoked_at FROM users u"  # noqa: S608 (no input)
    " LEFT JOIN auth_sessions s ON s.id = :session_id AND s.user_id = u.id"
    " WHERE u.id = :user_id"
)


async def load_token_user(
    db: Db, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> tuple[User, bool] | None:
    """The token's user and whether its session is still live, in one round trip.

    Runs on every authenticated request, so it is one plain statement (`db.driver`); the
    row becomes a persistent `User` of the request's session, as an ORM load would have
    made it (of a `Tx`: once it makes one).
    """
    row = await driver.fetchrow(db, _TOKEN_USER, {"user_id": user_id, "session_id": session_id})
    if row is None:
        return None
    found, revoked_at = row[-2], row[-1]
    live = session_id is None or (found is not None and revoked_at is None)
    tx = of(db)
    present = (
        tx.present(User, user_id)
        if tx is not None
        else orm(db).identity_map.get(identity_key(User, user_id))
    )
    if isinstance(present, User):
        return present, live
    # As the ORM's own loading does: the row goes straight into the instance's dict, not
    # through the constructor, whose every attribute set fires the change events of a new
    # object (about a fifth of this function's CPU, for a user nobody changes).
    user = _USER_MANAGER.new_instance()
    user.__dict__.update(
        (key, enum_class(value) if enum_class is not None and value is not None else value)
        for (key, enum_class), value in zip(_USER_ATTRS, row, strict=False)
    )
    make_transient_to_detached(user)
    if tx is not None:
        tx.adopt(user)
    else:
        orm(db).add(user)
    return user, live


async def create_session(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    method: str,
    user_agent: str | None,
    ip: str | None,
) -> AuthSession:
    auth_session = AuthSession(
        user_id=user_id,
        method=method,
        user_agent=user_agent[:512] if user_agent else None,
        ip=ip,
    )
    session.add(auth_session)
    await session.flush()
    return auth_session


async def add_refresh_token(
    session: AsyncSession,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    token_hash: bytes,
    expires_at: datetime,
    parent_id: uuid.UUID | None = None,
) -> None:
    session.add(
        RefreshToken(
            session_id=session_id,
            user_id=user_id,
            token_hash=token_hash,
            expires_at=expires_at,
            parent_id=parent_id,
        )
    )
    await session.flush()


async def lock_token_session(session: AsyncSession, token_hash: bytes) -> bool:
    """Lock the session (device) a refresh token belongs to; False if no such token.

    Whatever changes a session and its refresh tokens locks the session's row first
    (`revoke_sessions` updates it before the tokens), so a refresh must too. Locking the
    token first deadlocked racing refreshes of one token: in READ COMMITTED, each loser's
    `UPDATE ... WHERE used_at IS NULL` that waited for the winner keeps the spent row locked
    after its re-check fails, while the loser that revokes the session waits for those
    locks and they wait for the session's row.
    """
    locked = await session.scalar(
        select(AuthSession.id)
        .where(
            AuthSession.id
            == select(RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash)
            .scalar_subquery()
        )
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE
    )
    return locked is not None


async def spend_refresh_token(session: AsyncSession, token_hash: bytes) -> RefreshToken | None:
    """Mark the token used if it is live; of two concurrent spenders exactly one gets it."""
    return await session.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(RefreshToken)
    )


async def find_refresh_token(session: AsyncSession, token_hash: bytes) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def get_session(session: AsyncSession, session_id: uuid.UUID) -> AuthSession | None:
    return await session.get(AuthSession, session_id)


async def touch_session(session: AsyncSession, session_id: uuid.UUID, *, ip: str | None) -> None:
    """Record activity; the user agent stays the one seen at sign-in (it names the device)."""
    values: dict[str, object] = {"last_seen_at": func.now()}
    if ip:
        values["ip"] = ip
    await session.execute(update(AuthSession).where(AuthSession.id == session_id).values(values))


async def revoke_sessions(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    reason: str,
    session_ids: Sequence[uuid.UUID] | None = None,
    except_session_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Revoke live sessions of the user (all, or those listed, minus one) and their tokens."""
    conditions = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
    if session_ids is not None:
        conditions.append(AuthSession.id.in_(session_ids))
    if except_session_id is not None:
        conditions.append(AuthSession.id != except_session_id)
    revoked = list(
        (
            await session.scalars(
                update(AuthSession)
                .where(*conditions)
                .values(revoked_at=func.now(), revoke_reason=reason)
                .returning(AuthSession.id)
            )
        ).all()
    )
    if revoked:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.session_id.in_(revoked), RefreshToken.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )
    return revoked


async def list_live_sessions(session: AsyncSession, user_id: uuid.UUID) -> Sequence[AuthSession]:
    return (
        await session.scalars(
            select(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .order_by(AuthSession.last_seen_at.desc())
        )
    ).all()


async def supersede_phone_codes(session: AsyncSession, user_id: uuid.UUID, phone: str) -> None:
    await session.execute(
        update(PhoneVerification)
        .where(
            PhoneVerification.user_id == user_id,
            PhoneVerification.phone == phone,
            PhoneVerification.consumed_at.is_(None),
        )
        .values(consumed_at=func.now())
    )


async def add_phone_code(session: AsyncSession, verification: PhoneVerification) -> None:
    session.add(verification)
    await session.flush()


async def pending_phone_code(
    session: AsyncSession, user_id: uuid.UUID, phone: str
) -> PhoneVerification | None:
    return await session.scalar(
        select(PhoneVerification)
        .where(
            PhoneVerification.user_id == user_id,
            PhoneVerification.phone == phone,
            PhoneVerification.consumed_at.is_(None),
        )
        .order_by(PhoneVerification.created_at.desc())
        .limit(1)
    )


async def count_phone_code_attempt(
    session: AsyncSession, verification_id: uuid.UUID, max_attempts: int
) -> int | None:
    """Count one guess, atomically; None once the code has no guesses left or is spent."""
    attempts: int | None = await session.scalar(
        update(PhoneVerification)
        .where(
            PhoneVerification.id == verification_id,
            PhoneVerification.attempts < max_attempts,
            PhoneVerification.consumed_at.is_(None),
        )
        .values(attempts=PhoneVerification.attempts + 1)
        .returning(PhoneVerification.attempts)
    )
    return attempts


async def consume_phone_code(session: AsyncSession, verification_id: uuid.UUID) -> bool:
    consumed = await session.scalar(
        update(PhoneVerification)
        .where(PhoneVerification.id == verification_id, PhoneVerification.consumed_at.is_(None))
        .values(consumed_at=func.now())
        .returning(PhoneVerification.id)
    )
    return consumed is not None


async def add_oauth_state(session: AsyncSession, state: OAuthState) -> None:
    session.add(state)
    await session.flush()


async def consume_oauth_state(
    session: AsyncSession, state_hash: bytes, provider: str
) -> tuple[str, str] | None:
    """Spend a pending authorization request once; returns its nonce and PKCE verifier."""
    row = (
        await session.execute(
            update(OAuthState)
            .where(
                OAuthState.state_hash == state_hash,
                OAuthState.provider == provider,
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(OAuthState.nonce, OAuthState.code_verifier)
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def get_identity_user(session: AsyncSession, provider: str, subject: str) -> User | None:
    return await session.scalar(
        select(User)
        .join(UserIdentity, UserIdentity.user_id == User.id)
        .where(UserIdentity.provider == provider, UserIdentity.subject == subject)
    )


async def add_identity(session: AsyncSession, identity: UserIdentity) -> None:
    session.add(identity)
    await session.flush()
