"""Engine, session factory, the request gate and the one-transaction-per-request dependency
(`Transaction`, a `Tx`; `Session`, its ORM session)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from typing import Annotated, Any, cast

import asyncpg
import structlog
from fastapi import Depends, Request
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import queue as sqla_queue

from boxoffice.config import DatabaseSettings
from boxoffice.db import driver
from boxoffice.db.transaction import Db, Tx, of

log = structlog.get_logger("boxoffice.db")


def async_url(dsn: str) -> str:
    """Turn any `postgres://` / `postgresql://` DSN into SQLAlchemy's asyncpg form."""
    url = make_url(dsn.replace("postgres://", "postgresql://", 1))
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_url(dsn: str) -> str:
    """The DSN as libpq and asyncpg take it (no SQLAlchemy driver suffix)."""
    url = make_url(dsn.replace("postgres://", "postgresql://", 1))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(dsn: str, settings: DatabaseSettings | None = None) -> AsyncEngine:
    """One pooled engine per process."""
    settings = settings or DatabaseSettings()
    # JIT compilation adds ~0.5 s to large catalog plans and never pays back on OLTP queries.
    server_settings = {"application_name": "boxoffice", "timezone": "UTC", "jit": "off"}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    return create_async_engine(
        async_url(dsn),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        # No pre-ping: it costs a round trip per checkout on the hot path. A connection the
        # server dropped fails its request once and the pool is invalidated; recycle keeps
        # connections from outliving server-side idle timeouts.
        pool_recycle=1800,
        echo=settings.echo,
        connect_args={"server_settings": server_settings},
    )


async def warm_up(engine: AsyncEngine, connections: int) -> int:
    """Open `connections` pooled connections and prepare the sale's statements on each,
    so that a sale's opening burst (the first seconds after a restart or a quiet spell)
    does not also pay for connecting and for every statement's first use.

    Best effort: answers how many were warmed; the rest are opened later, on demand, as
    without it. Callers bound it (`asyncio.timeout`): a server that never answers would
    otherwise hold it for the driver's connect timeout.
    """

    async def one() -> None:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            await driver.prepare_all(cast(asyncpg.Connection, raw.driver_connection))

    results = await asyncio.gather(*(one() for _ in range(connections)), return_exceptions=True)
    return sum(1 for r in results if not isinstance(r, BaseException))


async def close_engine(engine: AsyncEngine, seconds: float = 5.0) -> None:
    """Close the pool's connections, giving up on goodbyes after `seconds`.

    A graceful close waits for the server to end each connection, one after another. One
    that never does (a server that stopped answering, or a connection asyncpg left waiting
    mid-protocol) held a worker's shutdown forever: a `serve --workers` then ignored SIGTERM,
    its listening socket closed and its pool still open. Past the bound, the connections
    still idle in the pool are cut without waiting.
    """
    try:
        async with asyncio.timeout(seconds):
            await engine.dispose()
    except TimeoutError:
        log.warning("pool_close_timed_out", seconds=seconds, cut=_cut_idle(engine))


def _cut_idle(engine: AsyncEngine) -> int:
    """Abort the connections idle in the pool (no Terminate message, no wait); how many."""
    # QueuePool keeps its idle connection records in `_pool`; an interrupted `dispose` left
    # the ones it had not reached there.
    idle: Any = getattr(engine.pool, "_pool", None)
    cut = 0
    while idle is not None:
        try:
            record = idle.get(False)
        except sqla_queue.Empty:
            break
        if record.dbapi_connection is not None:
            record.dbapi_connection.driver_connection.terminate()
            record.dbapi_connection = None
            cut += 1
    return cut


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class RequestGate:
    """At most `slots` requests of a process hold a database session at once; the others
    wait here, first come first served, up to `timeout` seconds, then get the pool's 503.

    Without it, a burst of requests queues inside the connection pool, whose waiters are
    served in no fair order and each cost a task and a timer: in a flash sale of 500 buyers
    the slowest waited 6 s where the median waited 1.4 s. A quarter of the pool stays outside
    the gate (at least one connection) for the short side transactions a request may open
    (`Idempotency-Key`), so admitted requests can always finish.
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        connections = settings.pool_size + settings.max_overflow
        self.slots = asyncio.Semaphore(max(1, connections - max(1, connections // 4)))
        self.timeout = settings.pool_timeout

    async def __aenter__(self) -> None:
        """Hold a slot for the body of `async with gate:` (a class's methods rather than a
        generator-based context manager: this runs on every request)."""
        if self.slots.locked():
            try:
                async with asyncio.timeout(self.timeout):
                    await self.slots.acquire()
            except TimeoutError as exc:
                raise PoolTimeoutError("no request slot became free in time") from exc
        else:
            await self.slots.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.slots.release()


async def get_tx(request: Request) -> AsyncIterator[Tx]:
    """The request's transaction: commit when the handler returns, roll back when it raises.

    Services only `flush()`; this dependency is the one place a request commits. Nothing is
    checked out until the request's first statement, and an ORM session is made only if
    something asks for one (`Session`, `db.transaction.orm`)."""
    gate: RequestGate | None = getattr(request.app.state, "request_gate", None)
    async with gate if gate is not None else nullcontext():
        tx = Tx(request.app.state.engine)
        try:
            try:
                yield tx
            except BaseException:
                await tx.rollback()
                await _undo(tx)
                raise
            try:
                await tx.commit()
            except BaseException:
                await _undo(tx)
                raise
        finally:
            await tx.close()


# scope="function": commit runs when the handler returns, before the response is sent,
# so a client is never told "done" about a transaction that then failed to commit.
Transaction = Annotated[Tx, Depends(get_tx, scope="function")]
"""The request's transaction, for code that sends plain statements (`db.driver`)."""


async def get_session(tx: Transaction) -> AsyncSession:
    """The request's ORM session, on the request's transaction."""
    return tx.session


Session = Annotated[AsyncSession, Depends(get_session)]


_ON_ROLLBACK = "boxoffice.on_rollback"


def on_rollback(db: Db, undo: Callable[[], Awaitable[None]]) -> None:
    """Have `get_tx` await `undo` if the request's transaction does not commit: for
    what the request did outside that transaction (an `Idempotency-Key` claimed in its own).

    A hook rather than a generator dependency of its own: such a dependency is left before
    this one commits, so it cannot tell a commit that failed."""
    tx = of(db)
    if tx is None:  # a session no request owns: nothing would ever run the hook
        raise RuntimeError("on_rollback needs the request's transaction (or its session)")
    tx.info.setdefault(_ON_ROLLBACK, []).append(undo)


async def _undo(tx: Tx) -> None:
    for undo in reversed(tx.info.pop(_ON_ROLLBACK, [])):
        await undo()
