"""`get_tx`: commit when the handler returns, roll back when it raises, and await what was
registered with `on_rollback` whenever the request's transaction does not commit; the same
whether the request wrote through its ORM session or with plain statements only."""

from collections.abc import AsyncGenerator, AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from boxoffice.db import driver
from boxoffice.db.driver import Sql
from boxoffice.db.engine import get_tx, on_rollback
from boxoffice.db.transaction import Tx

TABLE = "test_session_dependency"


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[str]:
    """A table whose self-reference is checked at commit (deferred), so a commit can fail."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                f"CREATE TABLE {TABLE} (id int PRIMARY KEY, parent int REFERENCES {TABLE} (id)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    try:
        yield TABLE
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {TABLE}"))


_INSERT = Sql("INSERT INTO test_session_dependency VALUES (1, :parent)")


async def _request(
    engine: AsyncEngine,
    parent: int,
    undone: list[str],
    *,
    fail: bool = False,
    plain: bool = False,
) -> None:
    """One request's transaction through the dependency: insert a row (through the ORM
    session, or as a plain statement with no session made), register an undo."""

    async def undo() -> None:
        undone.append("released")

    request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(engine=engine)))
    dependency = cast(AsyncGenerator[Tx, None], get_tx(request))
    tx = await anext(dependency)
    if plain:
        await driver.execute(tx, _INSERT, {"parent": parent})
        on_rollback(tx, undo)
        assert tx._session is None
    else:
        await tx.session.execute(text(_INSERT.text.replace("$1", ":parent")), {"parent": parent})
        on_rollback(tx.session, undo)
    if fail:
        with pytest.raises(RuntimeError):
            await dependency.athrow(RuntimeError("the handler failed"))
    else:
        with pytest.raises(StopAsyncIteration):
            await anext(dependency)


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(text("SELECT count(*) FROM test_session_dependency"))
            ).scalar_one()
        )


PLAIN = pytest.mark.parametrize("plain", [False, True], ids=["orm", "plain"])


@PLAIN
async def test_committed_nothing_to_undo(
    committed: async_sessionmaker[AsyncSession], engine: AsyncEngine, table: str, plain: bool
) -> None:
    undone: list[str] = []
    await _request(engine, 1, undone, plain=plain)
    assert undone == []
    assert await _rows(engine) == 1


@PLAIN
async def test_a_handler_that_raises_rolls_back_and_undoes(
    committed: async_sessionmaker[AsyncSession], engine: AsyncEngine, table: str, plain: bool
) -> None:
    undone: list[str] = []
    await _request(engine, 1, undone, fail=True, plain=plain)
    assert undone == ["released"]
    assert await _rows(engine) == 0


@PLAIN
async def test_a_commit_that_fails_undoes_too(
    committed: async_sessionmaker[AsyncSession], engine: AsyncEngine, table: str, plain: bool
) -> None:
    # Row 1 names a parent 99 that does not exist: refused at COMMIT, not at the INSERT.
    undone: list[str] = []
    with pytest.raises((IntegrityError, asyncpg.ForeignKeyViolationError)):
        await _request(engine, 99, undone, plain=plain)
    assert undone == ["released"]
    assert await _rows(engine) == 0


async def test_a_hook_on_a_session_no_request_owns_is_refused(session: AsyncSession) -> None:
    # Nothing would ever await it: better an error where it is registered than a key that
    # is silently never released.
    async def undo() -> None:
        raise AssertionError("never called")

    with pytest.raises(RuntimeError):
        on_rollback(session, undo)
