"""`boxoffice` command line: serve, worker, migrate, demo, db-url."""

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import structlog
import typer
import uvicorn

from boxoffice.config import Settings, get_settings
from boxoffice.db.embedded import EmbeddedPostgres
from boxoffice.db.engine import close_engine, create_engine, create_sessionmaker
from boxoffice.db.migrate import upgrade
from boxoffice.kit.logging import configure_logging

app = typer.Typer(help="boxoffice: event-ticketing backend.", no_args_is_help=True)
log = structlog.get_logger("boxoffice.cli")


class _Terminated(SystemExit):
    pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises SIGTERM after its own shutdown; turning it into an exception lets the
    # `finally` below stop the embedded PostgreSQL instead of dying with it still running.
    raise _Terminated(128 + signum)


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured server's DSN, or an embedded server's for as long as the block runs."""
    if settings.database.url:
        yield settings.database.url
        return
    embedded = EmbeddedPostgres(settings.embedded.data_dir, settings.embedded.database)
    try:
        dsn = embedded.start()
        # Worker processes (uvicorn --workers, the job worker) inherit the environment.
        os.environ["BOXOFFICE_DATABASE_URL"] = dsn
        get_settings.cache_clear()
        yield dsn
    finally:
        embedded.stop()
        os.environ.pop("BOXOFFICE_DATABASE_URL", None)
        get_settings.cache_clear()


async def _load_demo(dsn: str, settings: Settings) -> bool:
    from boxoffice.demo.loader import load_demo

    # A one-off bulk load, like a migration: not held to the per-request statement timeout
    # (a slow machine or a small timeout would otherwise stop `serve --demo` from starting).
    engine = create_engine(dsn, settings.database.model_copy(update={"statement_timeout_ms": 0}))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await load_demo(session)
    finally:
        await close_engine(engine)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo data set once")] = False,
) -> None:
    """Run the HTTP API (starts an embedded PostgreSQL when none is configured)."""
    settings = get_settings()
    configure_logging(settings.log)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with database(settings) as dsn:
            upgrade(dsn)
            if demo and asyncio.run(_load_demo(dsn, settings)):
                log.info("demo_data_loaded")
            bind_host = host or settings.http.host
            bind_port = port or settings.http.port
            log.info("serving", url=f"http://{bind_host}:{bind_port}", docs="/docs")
            uvicorn.run(
                "boxoffice.app:create_app",
                factory=True,
                host=bind_host,
                port=bind_port,
                workers=workers or settings.http.workers,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=10,
            )
    except KeyboardInterrupt:
        pass
    except _Terminated as exc:
        sys.exit(exc.code)


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run due jobs until none is left, then exit")
    ] = False,
) -> None:
    """Run background jobs and the outbox relay; any number of copies may run at once."""
    settings = get_settings()
    configure_logging(settings.log)
    with database(settings) as dsn:
        upgrade(dsn)
        from boxoffice.worker import run_worker

        ran = asyncio.run(run_worker(dsn, settings, once=once))
    if once:
        typer.echo(f"{ran} jobs run")


@app.command()
def migrate() -> None:
    """Apply all database migrations."""
    settings = get_settings()
    configure_logging(settings.log)
    with database(settings) as dsn:
        upgrade(dsn)
    typer.echo("migrations applied")


@app.command()
def demo() -> None:
    """Load the demo data set (once; a second run changes nothing)."""
    settings = get_settings()
    configure_logging(settings.log)
    with database(settings) as dsn:
        upgrade(dsn)
        loaded = asyncio.run(_load_demo(dsn, settings))
    typer.echo("demo data loaded" if loaded else "demo data already present")


@app.command("db-url")
def db_url() -> None:
    """Print the DSN in use (for the embedded server: valid while `serve` runs)."""
    settings = get_settings()
    if settings.database.url:
        typer.echo(settings.database.url)
        return
    configure_logging(settings.log)
    with database(settings) as dsn:
        typer.echo(dsn)
