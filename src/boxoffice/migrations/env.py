"""Alembic environment: async engine, one advisory lock so concurrent migrators queue."""

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from boxoffice.config import get_settings
from boxoffice.db.engine import async_url
from boxoffice.db.models import Base

MIGRATION_LOCK_KEY = 0x626F786F  # "boxo"

config = context.config
target_metadata = Base.metadata


def _dsn() -> str:
    dsn = config.attributes.get("dsn") or get_settings().database.url
    if not dsn:
        raise RuntimeError("no database to migrate: set BOXOFFICE_DATABASE_URL")
    return str(dsn)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(async_url(_dsn()), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(url=async_url(_dsn()), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(_run_async())
