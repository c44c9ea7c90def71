"""Run Alembic migrations programmatically (no alembic.ini needed at run time)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(dsn: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if dsn is not None:
        config.attributes["dsn"] = dsn
    return config


def upgrade(dsn: str, revision: str = "heads") -> None:
    """Bring the database at `dsn` to `revision` (all heads by default)."""
    command.upgrade(alembic_config(dsn), revision)


def head_revisions() -> frozenset[str]:
    """Revisions the code expects the database to be at."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
