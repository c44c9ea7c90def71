"""Test harness: a real PostgreSQL, migrated once per run; each test rolls back.

The server is the one named by BOXOFFICE_TEST_DATABASE_URL (a fresh database is created on
it for the run and dropped afterwards), else an embedded server in a temporary directory.
"""

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from boxoffice.app import create_app
from boxoffice.config import DatabaseSettings, Settings
from boxoffice.db.base import Base
from boxoffice.db.embedded import EmbeddedPostgres
from boxoffice.db.engine import create_engine, create_sessionmaker, get_tx, plain_url
from boxoffice.db.migrate import upgrade
from boxoffice.db.transaction import Tx
from boxoffice.inventory import claim_repository

pytest_plugins = ["tests.factories"]


async def _admin_execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(plain_url(dsn))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("BOXOFFICE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    tmp = Path(tempfile.mkdtemp(prefix="boxoffice-test-"))
    tmp.chmod(0o755)
    embedded = EmbeddedPostgres(tmp, "postgres")
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A throwaway database on the test server, migrated to head once."""
    name = f"boxoffice_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(server_url, f'CREATE DATABASE "{name}"')
    url = make_url(plain_url(server_url)).set(database=name).render_as_string(hide_password=False)
    try:
        # Alembic runs its own event loop; run it in a thread so ours is not disturbed.
        import asyncio

        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        environment="test",
        database=DatabaseSettings(url=database_url, pool_size=20, max_overflow=20),
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    assert settings.database.url
    engine = create_engine(settings.database.url, settings.database)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test.

    Code under test may `commit()`: with `create_savepoint` that only releases a savepoint.
    """
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


def _build_app(settings: Settings, engine: AsyncEngine) -> FastAPI:
    app = create_app(settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    return app


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine, session: AsyncSession) -> FastAPI:
    """The app with every request running inside the test's rolled-back transaction."""
    application = _build_app(settings, engine)

    async def test_tx() -> AsyncIterator[Tx]:
        tx = Tx.joined(session)
        yield tx
        await tx.commit()  # joined: a flush

    application.dependency_overrides[get_tx] = test_tx
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def truncate_all(engine: AsyncEngine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def committing_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The app with real, committed transactions, one per request, on a shared pool.

    For tests that race concurrent requests; every table is truncated afterwards.
    """
    try:
        yield _build_app(settings, engine)
    finally:
        await truncate_all(engine)


@pytest.fixture
def one_version_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every transaction bumps the same version row of a showtime: what two transactions do
    one time in `VERSION_SHARDS`, made certain, so a lock-order race shows in every run."""
    monkeypatch.setattr(claim_repository, "random_shard", lambda: 0)


@pytest.fixture
async def committing_client(committing_app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=committing_app)
    async with AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def committed(
    sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A sessionmaker whose commits are real (for racing connections); truncates afterwards."""
    try:
        yield sessionmaker
    finally:
        await truncate_all(engine)


Documented = Callable[[str, dict[str, Any]], bool]


@pytest.fixture(scope="session")
def documented(settings: Settings) -> Documented:
    """Whether the OpenAPI document (the one `/openapi.json` serves, read once) calls `body`
    a valid instance of the named component schema."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", DRAFT202012.create_resource(create_app(settings).openapi())
    )

    def verdict(component: str, body: dict[str, Any]) -> bool:
        schema = {"$ref": f"urn:openapi#/components/schemas/{component}"}
        return Draft202012Validator(schema, registry=registry).is_valid(body)

    return verdict
