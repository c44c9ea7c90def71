"""End to end: `boxoffice serve --demo` on a fresh HOME starts the embedded PostgreSQL,
serves the demo data, and leaves no PostgreSQL behind on SIGTERM, on Ctrl-C, or after a
previous run was killed outright."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.embedded

STARTUP_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(pgdata) in part for part in cmdline):
            found.append(proc)
    return found


class Server:
    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.args = args
        self.extra_env = env or {}
        self.port = _free_port()
        self.pgdata = home / "data" / "boxoffice" / "pgdata"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "serve.log"

    def start(self) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BOXOFFICE_") and k != "XDG_RUNTIME_DIR"
        }
        env |= {"HOME": str(self.home), "XDG_DATA_HOME": str(self.home / "data")}
        env |= self.extra_env
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [
                    sys.executable,
                    *("-m", "boxoffice", "serve", "--demo", "--port", str(self.port)),
                    *self.args,
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.url("/health"), timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("server did not answer /health in time")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def home() -> Iterator[Path]:
    # Not pytest's tmp_path: a concurrent pytest run prunes old basetemps under it, which
    # would pull the data dir from under a running PostgreSQL.
    path = Path(tempfile.mkdtemp(prefix="boxoffice-serve-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for proc in _postgres_processes(path):
            proc.kill()
        shutil.rmtree(path, ignore_errors=True)


class TestServeEmbedded:
    def test_serves_demo_data_and_stops_postgres_on_sigterm(self, home: Path) -> None:
        server = Server(home)
        server.start()

        events = httpx.get(server.url("/api/events")).json()
        docs = httpx.get(server.url("/docs"))
        ready = httpx.get(server.url("/ready")).json()
        assert _postgres_processes(server.pgdata)

        server.stop(signal.SIGTERM)

        assert events["total"] == 5
        assert "Hamlet" in {e["title"] for e in events["items"]}
        assert docs.status_code == 200
        assert ready["migrations"] == "head"
        assert _postgres_processes(server.pgdata) == []

    def test_recovers_after_a_killed_run_and_stops_on_ctrl_c(self, home: Path) -> None:
        first = Server(home)
        first.start()
        first.stop(signal.SIGKILL)
        assert _postgres_processes(first.pgdata), "a killed serve leaves its PostgreSQL running"

        second = Server(home)
        second.start()
        events = httpx.get(second.url("/api/events")).json()
        second.stop(signal.SIGINT)

        assert events["total"] == 5, "demo data is loaded once, not twice"
        assert _postgres_processes(second.pgdata) == []

    def test_workers_idle_past_the_statement_timeout_serve_and_stop_on_sigterm(
        self, home: Path
    ) -> None:
        # Each worker warms its pool at startup. Left idle longer than the statement timeout,
        # those connections once failed their first requests, and a worker then never
        # finished closing its pool: the server ignored SIGTERM.
        server = Server(
            home, "--workers", "2", env={"BOXOFFICE_DATABASE_STATEMENT_TIMEOUT_MS": "300"}
        )
        server.start()
        time.sleep(1.5)
        # New connections each, so both workers answer; each worker's pool hands out its
        # idle connections in turn (first in, first out).
        statuses = [httpx.get(server.url("/api/events"), timeout=10).status_code for _ in range(24)]
        started = time.monotonic()
        code = server.stop(signal.SIGTERM)

        assert statuses == [200] * 24
        assert code == 0
        assert time.monotonic() - started < 15
        assert _postgres_processes(server.pgdata) == []
