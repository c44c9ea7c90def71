"""`get_session`: commit when the handler returns, roll back when it raises, and await what
was registered with `on_rollback` whenever the request's transaction does not commit."""

from collections.abc import AsyncGenerator, AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from boxoffice.db.engine import get_session, on_rollback

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


async def _request(
    sessionmaker: async_sessionmaker[AsyncSession],
    parent: int,
    undone: list[str],
    *,
    fail: bool = False,
) -> None:
    """One request's session through the dependency: insert a row, register an undo."""

    async def undo() -> None:
        undone.append("released")

    request: Any = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(sessionmaker=sessionmaker))
    )
    dependency = cast(AsyncGenerator[AsyncSession, None], get_session(request))
    session = await anext(dependency)
    await session.execute(
        text("INSERT INTO test_session_dependency VALUES (1, :parent)"), {"parent": parent}
    )
    on_rollback(session, undo)
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


async def test_committed_nothing_to_undo(
    committed: async_sessionmaker[AsyncSession], engine: AsyncEngine, table: str
) -> None:
    undone: list[str] = []
    await _request(committed, 1, undone)
    assert undone == []
    assert await _rows(engine) == 1


async def test_a_handler_that_raises_rolls_back_and_undoes(
    committed: async_sessionmaker[AsyncSession], engine: AsyncEngine, table: str
) -> None:
    undone: list[str] = []
    await _request(committed, 1, undone, fail=True)
    assert undone == ["released"]
    assert await _rows(engine) == 0


async def test_a_commit_that_fails_undoes_too(
    committed: async_sessionmaker[AsyncSession], engine: AsyncEngine, table: str
) -> None:
    # Row 1 names a parent 99 that does not exist: refused at COMMIT, not at the INSERT.
    undone: list[str] = []
    with pytest.raises(IntegrityError):
        await _request(committed, 99, undone)
    assert undone == ["released"]
    assert await _rows(engine) == 0
