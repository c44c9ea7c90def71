"""The catalog's own SQL, run directly on asyncpg (the benchmark's baseline)."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


def to_asyncpg(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """`:name` parameters -> asyncpg's `$n`, with the argument list in order."""
    compiled = text(sql).compile(dialect=_DIALECT)
    return compiled.string, [params[name] for name in compiled.positiontup or []]
