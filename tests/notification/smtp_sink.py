"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests."""

import asyncio
import socket
import threading
from email import message_from_bytes
from email.message import Message
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SmtpSink:
    """`stall_at=n` holds the n-th message (0-based) before answering, until `release()`."""

    def __init__(self, *, stall_at: int | None = None) -> None:
        self.messages: list[Message] = []
        self.stall_at = stall_at
        self.stalled = threading.Event()
        self._gate = threading.Event()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        index = len(self.messages)
        self.messages.append(message_from_bytes(envelope.content))
        if index == self.stall_at:
            self.stalled.set()
            await asyncio.get_running_loop().run_in_executor(None, self._gate.wait, 60)
        return "250 OK"

    def release(self) -> None:
        self._gate.set()

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
        self._controller.stop()
