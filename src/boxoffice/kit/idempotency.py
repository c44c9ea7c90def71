"""`Idempotency-Key` for POST routes that move money or stock.

The first request with a key inserts a row in its own short, committed transaction before
the handler runs. A repeat finds the row: the stored response is replayed when the first
finished, 409 `idempotency_in_progress` while it still runs, 422 `idempotency_key_reused`
when the body differs. The route stores its response in the request's own transaction
(`record`), so the stored answer exists exactly when the change it describes committed. A
request that fails releases its key, so the client can retry. A key left `in_progress` by a
crashed process may be taken over after `lease_seconds`.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import DateTime, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db import driver
from boxoffice.db.base import Base
from boxoffice.db.driver import Sql
from boxoffice.db.engine import Transaction, on_rollback
from boxoffice.db.transaction import Db
from boxoffice.kit.errors import Conflict, Unprocessable

KEY_HEADER = "Idempotency-Key"
LEASE_SECONDS = 60


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    """Who and where: the caller's id and the route template."""
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    """`in_progress` or `completed`."""
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "A request with this Idempotency-Key is still running"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request body"


class IdempotentReplay(Exception):
    """Raised before the handler runs to answer with the stored response instead."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__("replay")
        self.status = status
        self.body = body


_CLAIM = text(
    """
    INSERT INTO idempotency_keys (scope, key, request_hash, state, locked_until)
    VALUES (:scope, :key, :hash, 'in_progress', now() + make_interval(secs => :lease))
    ON CONFLICT (scope, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, locked_until = EXCLUDED.locked_until
     WHERE idempotency_keys.state = 'in_progress'
       AND idempotency_keys.locked_until < now()
       AND idempotency_keys.request_hash = EXCLUDED.request_hash
    RETURNING key
    """
)


_COMPLETE = Sql(
    "UPDATE idempotency_keys SET state = 'completed', response_status = :status,"
    " response_body = CAST(:body AS jsonb), locked_until = NULL"
    " WHERE scope = :scope AND key = :key"
)


class Idempotency:
    """The request's key (or none); `record()` stores the answer in the request transaction."""

    def __init__(self, scope: str, key: str | None) -> None:
        self.scope = scope
        self.key = key

    async def record(self, db: Db, status: int, body: Any) -> Any:
        """Store the response of a keyed request (no-op without a key); returns `body`."""
        if self.key is not None:
            await driver.execute(
                db,
                _COMPLETE,
                {
                    "status": status,
                    "body": json.dumps(jsonable_encoder(body)),
                    "scope": self.scope,
                    "key": self.key,
                },
            )
        return body


def _hash(body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


async def _begin(
    sessionmaker: async_sessionmaker[AsyncSession], scope: str, key: str, body_hash: str
) -> None:
    async with sessionmaker() as session, session.begin():
        claimed = (
            await session.execute(
                _CLAIM, {"scope": scope, "key": key, "hash": body_hash, "lease": LEASE_SECONDS}
            )
        ).first()
        if claimed is not None:
            return
        row = (
            await session.execute(
                text(
                    "SELECT request_hash, state, response_status, response_body "
                    "FROM idempotency_keys WHERE scope = :scope AND key = :key"
                ),
                {"scope": scope, "key": key},
            )
        ).one()
    if row.request_hash != body_hash:
        raise IdempotencyKeyReused()
    if row.state != "completed":
        raise IdempotencyInProgress(headers={"Retry-After": "1"})
    raise IdempotentReplay(row.response_status, row.response_body)


async def _release(sessionmaker: async_sessionmaker[AsyncSession], scope: str, key: str) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "DELETE FROM idempotency_keys "
                "WHERE scope = :scope AND key = :key AND state = 'in_progress'"
            ),
            {"scope": scope, "key": key},
        )


def idempotency_dependency(
    caller: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Idempotency]]:
    """Build the dependency; `caller` is a dependency whose result's `id` owns the keys.

    A claimed key is released if the request's transaction does not commit (`on_rollback`),
    so the client can retry."""

    async def dependency(
        request: Request,
        tx: Transaction,
        who: Annotated[Any, Depends(caller)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias=KEY_HEADER,
                min_length=1,
                max_length=200,
                description="Repeat-safe key: a repeat gets the stored response",
            ),
        ] = None,
    ) -> Idempotency:
        # The route's path template; `request.url` (built anew, a whole URL) only unrouted.
        route = request.scope.get("route")
        path = route.path if route is not None and hasattr(route, "path") else request.url.path
        scope = f"{who.id}:{request.method}:{path}"
        if idempotency_key is None:
            return Idempotency(scope, None)
        sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
        await _begin(sessionmaker, scope, idempotency_key, _hash(await request.body()))
        on_rollback(tx, partial(_release, sessionmaker, scope, idempotency_key))
        return Idempotency(scope, idempotency_key)

    return dependency


def install_idempotency(app: FastAPI) -> None:
    """Render replays: the stored status and body, marked with `Idempotent-Replayed`."""

    async def on_replay(request: Request, exc: Exception) -> JSONResponse:
        replay = exc if isinstance(exc, IdempotentReplay) else IdempotentReplay(500, None)
        return JSONResponse(
            replay.body, status_code=replay.status, headers={"Idempotent-Replayed": "true"}
        )

    app.add_exception_handler(IdempotentReplay, on_replay)
