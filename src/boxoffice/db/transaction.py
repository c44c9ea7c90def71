"""`Tx`: a request's transaction, with an ORM session made only when something asks for one.

Every request that touches the database runs in one transaction on one pooled connection.
The sale's statements are plain asyncpg (`db.driver`) and need no ORM session; making one,
joining it to the connection's transaction and committing and closing through it cost
about 300 µs of CPU a request (measured on this machine: a session around one statement
500-640 µs, the connection with its transaction begun and committed alone 180-270 µs),
more than the sale's three statements together. So a `Tx` starts empty and becomes what
its first use needs:

- a plain statement first: a connection straight from the pool with BEGIN sent, its
  asyncpg side used directly and committed directly; an ORM session asked for later is
  made on that connection and transaction (SQLAlchemy's `Connection` and `AsyncConnection`
  objects, with their events and a greenlet hop for each call, are made only then: about
  110 µs of CPU a request less, measured on this machine, 4,000 transactions 16 at once:
  0.11-0.19 ms against 0.22-0.30 for `engine.connect()`, `begin()`, `commit()`, `close()`);
- the ORM session first: a session as any other (it checks out its connection when it
  first needs one), and plain statements then run in its transaction;
- neither (a seat map answered from the cache): nothing is checked out at all.
"""

from typing import Any, cast

import asyncpg
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm.util import identity_key
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

TX_KEY = "boxoffice.tx"
"""Where a `Tx`'s session names its `Tx` (`session.info`)."""


class Tx:
    """One request's transaction (see the module)."""

    __slots__ = ("_adopted", "_connection", "_pooled", "_session", "engine", "info", "owns", "raw")

    def __init__(self, engine: AsyncEngine | None, *, session: AsyncSession | None = None) -> None:
        self.engine = engine
        self.raw: asyncpg.Connection | None = None
        """The asyncpg connection, once a plain statement came first."""
        self._pooled: PoolProxiedConnection | None = None
        """The pool's connection, once a plain statement came first."""
        self._connection: AsyncConnection | None = None
        """SQLAlchemy's connection over `_pooled`, once a session is made on it."""
        self._session = session
        self._adopted: list[Any] = []
        self.owns = session is None
        """False for a `Tx` joined to a session someone else commits (`joined`)."""
        self.info: dict[str, Any] = {}

    @classmethod
    def joined(cls, session: AsyncSession) -> "Tx":
        """A `Tx` over a session whose transaction is someone else's (tests run every request
        inside one rolled-back transaction): plain statements go through the session."""
        return cls(None, session=session)

    @property
    def has_session(self) -> bool:
        return self._session is not None

    async def begin_plain(self) -> asyncpg.Connection:
        """Check out a connection and send BEGIN at once (SQLAlchemy's asyncpg adapter
        sends it lazily, before its own first statement; a plain statement sent first would
        run outside any transaction). Only before any session is made.

        The transaction is begun through the adapter, so that a session made later on this
        connection (`session`) knows it is in one and commits it."""
        if self.engine is None or self._session is not None:
            raise RuntimeError("this transaction's statements go through its session")
        self._pooled = pooled = await self.engine.raw_connection()
        adapted: Any = pooled.dbapi_connection
        await adapted._start_transaction()
        self.raw = cast(asyncpg.Connection, pooled.driver_connection)
        return self.raw

    @property
    def session(self) -> AsyncSession:
        """The ORM session on this transaction, made on first use."""
        if self._session is None:
            if self._pooled is not None:
                # Plain statements came first: the session takes their transaction as its
                # own (its flushes, savepoints and, in `commit`, its commit are this one's).
                engine = cast(AsyncEngine, self.engine)  # set, as `begin_plain` checked
                self._connection = AsyncConnection(
                    engine, Connection(engine.sync_engine, connection=self._pooled)
                )
                bind: AsyncConnection | AsyncEngine | None = self._connection
                mode = "control_fully"
            else:
                bind, mode = self.engine, "conditional_savepoint"
            self._session = AsyncSession(
                bind=bind, expire_on_commit=False, autoflush=False, join_transaction_mode=mode
            )
            self._session.info[TX_KEY] = self
            self._session.add_all(self._adopted)
        return self._session

    def adopt(self, instance: Any) -> None:
        """Make a detached ORM instance loaded by a plain statement (the caller's `User`)
        part of the session, now if there is one, else when one is made."""
        if self._session is not None:
            self._session.add(instance)
        else:
            self._adopted.append(instance)

    def present(self, cls: type[Any], key: Any) -> Any:
        """The instance of `cls` with primary key `key` this transaction already holds
        (in its session, or adopted for it), if any."""
        if self._session is not None:
            return self._session.identity_map.get(identity_key(cls, key))
        return next((o for o in self._adopted if type(o) is cls and o.id == key), None)

    async def commit(self) -> None:
        """Flush what the session holds and commit; joined: flush only."""
        if not self.owns:
            if self._session is not None:
                await self._session.flush()
            return
        if self._session is not None:
            await self._session.commit()
        await self._end("commit")

    async def rollback(self) -> None:
        if not self.owns:
            return
        if self._session is not None:
            await self._session.rollback()
        await self._end("rollback")

    async def _end(self, how: str) -> None:
        """Commit or roll back the plain statements' transaction, unless a session did
        (a session made but never used does not)."""
        if self._pooled is None:
            return
        adapted: Any = self._pooled.dbapi_connection  # None once invalidated
        transaction = adapted._transaction if adapted is not None else None
        if transaction is None:
            return
        adapted._transaction = None
        try:
            await getattr(transaction, how)()
        except asyncpg.PostgresError:
            raise  # the server answered (a constraint checked at COMMIT): the transaction ended
        except BaseException:
            # The server dropped the connection, or the statement was cancelled midway:
            # its state is unknown, so the pool replaces it rather than lend it again.
            await greenlet_spawn(self._pooled.invalidate)
            raise

    async def close(self) -> None:
        """Give the connection back to the pool."""
        if not self.owns:
            return
        if self._session is not None:
            await self._session.close()
        if self._connection is not None:
            await self._connection.close()
        elif self._pooled is not None:
            # Neither committed nor rolled back if the request was cancelled between:
            # the pool's own reset would have to wait on the server outside a greenlet.
            await self._end("rollback")
            # In a greenlet: a connection past the pool's size is closed on the way back,
            # which waits on the server.
            await greenlet_spawn(self._pooled.close)


Db = AsyncSession | Tx
"""What the plain-statement layer (`db.driver`) and the sale's code take: a request's `Tx`,
or any session (workers, tests, and the ORM code that calls them)."""


def orm(db: Db) -> AsyncSession:
    """The ORM session of `db` (a `Tx` makes it on first use)."""
    return db.session if isinstance(db, Tx) else db


def of(db: Db) -> Tx | None:
    """The `Tx` that `db` is, or whose session it is."""
    if isinstance(db, Tx):
        return db
    tx = db.info.get(TX_KEY)
    return tx if isinstance(tx, Tx) else None
