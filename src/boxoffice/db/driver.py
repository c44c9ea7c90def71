"""Plain asyncpg statements inside the session's transaction, for the sale's hot path.

SQLAlchemy costs about 95 µs of CPU per `text()` statement and several hundred per ORM
load or flush; asyncpg alone about 20 µs. The statements that run on every hold and every
booking (and that `bench/flash_sale` drives directly) go through `driver()` instead, on
the same connection and in the same transaction as everything else the request does: a
request's `Tx` (`db.transaction`), or a session.
"""

import re
from collections.abc import Mapping
from typing import Any, cast

import asyncpg
import structlog

from boxoffice.db.transaction import Db, of, orm

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_INFO_KEY = "boxoffice.driver"

log = structlog.get_logger("boxoffice.db")

STATEMENTS: list["Sql"] = []
"""Every `Sql` made (module constants, one per statement): what `prepare_all` prepares."""


class Sql:
    """A statement written with `:name` parameters, turned once into asyncpg's `$n` form."""

    __slots__ = ("names", "text")

    def __init__(self, statement: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.text = _PARAM.sub(number, statement)
        self.names = tuple(names)
        STATEMENTS.append(self)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The parameters in `$n` order (a missing name is a KeyError, never a NULL)."""
        return [params[name] for name in self.names]


async def driver(db: Db) -> asyncpg.Connection:
    """The asyncpg connection of `db`, inside its transaction.

    A request's `Tx` checks out its connection here if this is its first statement, and
    keeps it (BEGIN sent) for the rest of the request. A session (a `Tx` whose ORM session
    came first, or any other): SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its
    own first statement; a plain statement sent first would run outside any transaction, so
    it is begun here, and the connection is remembered for the rest of the session's
    transaction.
    """
    tx = of(db)
    if tx is not None:
        if tx.raw is not None:
            return tx.raw
        if not tx.has_session:
            return await tx.begin_plain()
    session = orm(db)
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_INFO_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cast(asyncpg.Connection, cached[1])
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if adapted._transaction is None and adapted.isolation_level != "autocommit":
        await adapted._start_transaction()
    session.info[_INFO_KEY] = (session.sync_session.get_transaction(), raw.driver_connection)
    return cast(asyncpg.Connection, raw.driver_connection)


async def fetch(db: Db, sql: Sql, params: Mapping[str, Any]) -> list[Any]:
    return cast(list[Any], await (await driver(db)).fetch(sql.text, *sql.args(params)))


async def fetchrow(db: Db, sql: Sql, params: Mapping[str, Any]) -> Any:
    return await (await driver(db)).fetchrow(sql.text, *sql.args(params))


async def fetchval(db: Db, sql: Sql, params: Mapping[str, Any]) -> Any:
    return await (await driver(db)).fetchval(sql.text, *sql.args(params))


async def execute(db: Db, sql: Sql, params: Mapping[str, Any]) -> str:
    return cast(str, await (await driver(db)).execute(sql.text, *sql.args(params)))


async def prepare_all(connection: asyncpg.Connection) -> None:
    """Prepare every `Sql` statement on a new connection, before its first request.

    A statement's first use on a connection costs its parse and, for a new backend, loading
    the catalog entries of every table and type it names; asyncpg also looks up the codecs
    of its enum and composite types once per connection. A sale's opening burst would pay
    that on every pooled connection at once. Prepared here, the statement lands in the
    connection's statement cache, where `fetch` and `execute` find it.
    """
    for sql in STATEMENTS:
        try:
            # asyncpg's public `prepare` bypasses the statement cache that `fetch` uses.
            await connection._get_statement(sql.text, None)
        except asyncpg.PostgresError as exc:
            # Not fatal here: the statement fails the same way where it is used.
            log.warning("statement_not_prepared", error=str(exc), statement=sql.text[:200])
    # asyncpg prepares with Parse, Describe and Flush, but no Sync: the server stays inside
    # that exchange ("active" in pg_stat_activity) with the statement timeout running, and
    # cancels it once the timeout passes. A connection left idle that long then failed its
    # next statement ("canceling statement due to statement timeout") and never finished
    # closing. A simple query ends the exchange (asyncpg issue #1276).
    await connection.execute("SELECT NULL")
