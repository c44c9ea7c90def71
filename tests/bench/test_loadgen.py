"""The flash-sale load generator's HTTP client against a small server on a socket: what it
sends, how it reads answers that arrive in pieces or together, and what it does when the
server closes the connection. The benchmark's figures count its statuses, so they must be
the server's. Each case runs on the standard loop and on uvloop, which the load generator
runs on (its transports call back in another order)."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvloop
from bench.flash_sale.loadgen import Connection

Reply = Callable[[bytes], list[bytes]]
"""A request's raw bytes -> the chunks to write back, each in its own write (none: close
the connection; CLOSE after them: close once they are written)."""

CLOSE = b"<close>"


class _Server:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.handlers: list[asyncio.Task[Any]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append(task)
        try:
            while chunks := self.reply(await self._request(reader)):
                for chunk in chunks:
                    if chunk == CLOSE:
                        return
                    writer.write(chunk)
                    await writer.drain()
                    await asyncio.sleep(0.01)  # each chunk its own read
        except asyncio.IncompleteReadError:
            pass  # the client closed the connection
        finally:
            writer.close()
            await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


@asynccontextmanager
async def _serving(reply: Reply) -> AsyncIterator[tuple[_Server, Connection]]:
    """A server on a free port and a load generator's connection to it; both closed after."""
    state = _Server(reply)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    conn = Connection("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        yield state, conn
    finally:
        conn.close()
        if state.handlers:
            await asyncio.wait(state.handlers, timeout=5)
        server.close()
        await server.wait_closed()


Case = Callable[[], Coroutine[Any, Any, None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Case], None]:
    """Runs a case on a new loop of the kind, in a thread of its own (the suite's loop is
    left alone), failing it after 20 s rather than waiting for ever."""
    loop_run = asyncio.run if request.param == "asyncio" else uvloop.run

    async def bounded(case: Case) -> None:
        async with asyncio.timeout(20):
            await case()

    def runner(case: Case) -> None:
        with ThreadPoolExecutor(1) as thread:
            thread.submit(loop_run, bounded(case)).result()

    return runner


def _answer(status: int, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status} Whatever", f"content-length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class TestConnection:
    def test_sends_a_json_request_and_reads_status_body_and_headers(
        self, run: Callable[[Case], None]
    ) -> None:
        async def case() -> None:
            answer = _answer(201, b'{"id": 7}', 'ETag: "abc"')
            async with _serving(lambda _: [answer]) as (server, conn):
                status, body, headers = await conn.request(
                    "POST", "/api/x", {"Authorization": "Bearer t"}, {"a": [1, 2]}
                )

            assert (status, json.loads(body), headers["etag"]) == (201, {"id": 7}, '"abc"')
            head, payload = server.requests[0].split(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            assert lines[0] == "POST /api/x HTTP/1.1"
            assert {"Host: 127.0.0.1", "Content-Type: application/json"} <= set(lines)
            assert "Authorization: Bearer t" in lines
            assert f"Content-Length: {len(payload)}" in lines
            assert json.loads(payload) == {"a": [1, 2]}

        run(case)

    def test_keeps_the_connection_and_reads_answers_split_anywhere(
        self, run: Callable[[Case], None]
    ) -> None:
        async def case() -> None:
            answer = _answer(409, b'{"code": "seats_unavailable"}')
            # The head split mid-line and mid-terminator, the body in two.
            pieces = [answer[:10], answer[10:30], answer[30:-5], answer[-5:]]
            async with _serving(lambda _: pieces) as (server, conn):
                answers = [await conn.request_raw("GET", f"/r/{i}", {}) for i in range(3)]

            assert [(s, json.loads(b)) for s, b, _ in answers] == [
                (409, {"code": "seats_unavailable"})
            ] * 3
            assert len(server.handlers) == 1  # one connection
            assert [r.split(b" ")[1] for r in server.requests] == [b"/r/0", b"/r/1", b"/r/2"]
            assert all(b"Content-Length: 0\r\n" in r for r in server.requests)

        run(case)

    def test_an_empty_body_and_a_204_without_length(self, run: Callable[[Case], None]) -> None:
        async def case() -> None:
            answer = b"HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n"
            async with _serving(lambda _: [answer]) as (_, conn):
                assert await conn.request("DELETE", "/x", {}) == (204, b"", {"x-a": "1"})

        run(case)

    def test_a_connection_closed_mid_request_answers_0_and_the_next_reconnects(
        self, run: Callable[[Case], None]
    ) -> None:
        async def case() -> None:
            def reply(request: bytes) -> list[bytes]:
                return [CLOSE] if b"/close" in request else [_answer(200, b"ok")]

            async with _serving(reply) as (server, conn):
                assert (await conn.request_raw("GET", "/a", {}))[:2] == (200, b"ok")
                assert (await conn.request_raw("GET", "/close", {}))[:2] == (0, b"")
                assert (await conn.request_raw("GET", "/b", {}))[:2] == (200, b"ok")
            assert len(server.handlers) == 2

        run(case)

    def test_a_server_that_closes_an_idle_connection(self, run: Callable[[Case], None]) -> None:
        async def case() -> None:
            replies = iter([[_answer(200, b"1"), CLOSE], [_answer(200, b"2")]])
            async with _serving(lambda _: next(replies)) as (server, conn):
                assert (await conn.request_raw("GET", "/a", {}))[:2] == (200, b"1")
                await asyncio.sleep(0.05)  # the server has closed it meanwhile

                # Not a write into the closed socket, waiting for ever: a new connection.
                assert (await conn.request_raw("GET", "/b", {}))[:2] == (200, b"2")
            assert len(server.handlers) == 2

        run(case)
