import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from boxoffice.cli import app
from boxoffice.config import get_settings


class TestWorkerCommand:
    def test_runs_the_due_jobs_once_and_exits(
        self,
        database_url: str,
        monkeypatch: pytest.MonkeyPatch,
        committed: async_sessionmaker[AsyncSession],
    ) -> None:
        # `committed`: the jobs and schedules this commits are truncated afterwards.
        monkeypatch.setenv("BOXOFFICE_DATABASE_URL", database_url)
        monkeypatch.setenv("BOXOFFICE_LOG_LEVEL", "WARNING")
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["worker", "--once"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        # The expiry sweeper is scheduled at start and due at once.
        assert "jobs run" in result.output
        assert int(result.output.split()[0]) >= 1
