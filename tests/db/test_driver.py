"""Plain asyncpg statements run inside the session's transaction."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.db import driver
from boxoffice.db.driver import Sql

_INSERT = Sql(
    "INSERT INTO idempotency_keys (scope, key, request_hash, state)"
    " VALUES (:scope, :key, 'h', 'in_progress')"
)


class TestSql:
    def test_names_become_numbered_parameters_once_each(self) -> None:
        sql = Sql("SELECT :a::int, CAST(:b AS text), :a + 1 WHERE x = 'y:z'")
        assert sql.text == "SELECT $1::int, CAST($2 AS text), $1 + 1 WHERE x = 'y:z'"
        assert sql.args({"b": "two", "a": 1}) == [1, "two"]


class TestDriver:
    async def test_a_first_plain_statement_is_inside_the_transaction(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            await driver.execute(session, _INSERT, {"scope": "driver-test", "key": "rolled"})
            await session.rollback()
        async with committed() as session:
            await driver.execute(session, _INSERT, {"scope": "driver-test", "key": "kept"})
            # SQLAlchemy and the driver share the one transaction, which commits both.
            await session.execute(
                text(
                    "INSERT INTO idempotency_keys (scope, key, request_hash, state)"
                    " VALUES ('driver-test', 'orm', 'h', 'in_progress')"
                )
            )
            await session.commit()
        async with committed() as session:
            keys = await session.scalars(
                text("SELECT key FROM idempotency_keys WHERE scope = 'driver-test' ORDER BY key")
            )
            assert list(keys) == ["kept", "orm"]

    async def test_the_connection_is_fetched_again_after_commit(
        self, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            await driver.execute(session, _INSERT, {"scope": "driver-test", "key": "one"})
            await session.commit()
            await driver.execute(session, _INSERT, {"scope": "driver-test", "key": "two"})
            await session.rollback()
        async with committed() as session:
            keys = await session.scalars(
                text("SELECT key FROM idempotency_keys WHERE scope = 'driver-test'")
            )
            assert list(keys) == ["one"]
