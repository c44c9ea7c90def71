from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from boxoffice.db.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


class TestMigrations:
    async def test_migrations_build_exactly_the_models(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
        assert diff == []
