"""HTTP load generator, run in its own process: N buyers, each on a keep-alive connection,
hold then book in a loop. A minimal HTTP/1.1 client on an asyncio protocol (uvloop) keeps the
generator's own CPU cost far below the server's, which a general client library does not
on a 2-core machine."""

import asyncio
import json
import random
import sys
import time
from typing import Any, cast

import uvloop

from bench.flash_sale.workload import ask, pause, percentile


class _Reader(asyncio.Protocol):
    """A keep-alive connection's reading side: collects one response's head and body and
    hands them to the request waiting for it, straight from the protocol's callbacks (no
    stream reader's buffer and waiter future per read)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head: bytes | None = None
        self.length = 0
        self.waiter: asyncio.Future[tuple[int, bytes, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not registered as an `asyncio.Transport` subclass.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = bytes(self.buffer[: end + 2])
            del self.buffer[: end + 4]
            self.length = _content_length(self.head)
        if len(self.buffer) < self.length:
            return
        body = bytes(self.buffer[: self.length])
        del self.buffer[: self.length]
        head, self.head = self.head, None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((int(head[9:12]), body, head))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("closed by the server"))


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    return int(head[at + 17 : head.index(b"\r\n", at + 2)])


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")
    pairs = (line.split(":", 1) for line in lines[1:] if ":" in line)
    return {key.strip().lower(): value.strip() for key, value in pairs}


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: _Reader | None = None
        self.prefixes: dict[tuple[str, str, tuple[tuple[str, str], ...], bool], bytes] = {}

    def close(self) -> None:
        if self.reader is not None and self.reader.transport is not None:
            self.reader.transport.close()
        self.reader = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request; a broken connection answers status 0 and is reopened next time."""
        status, content, head = await self.request_raw(method, path, headers, body)
        return status, content, _headers(head)

    async def request_raw(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes, bytes]:
        """As `request`, the response's head unparsed (the sale reads only status and body)."""
        try:
            return await self._request(method, path, headers, body)
        except (OSError, ValueError):
            self.close()
            return 0, b"", b""

    async def _request(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, bytes, bytes]:
        if self.reader is None or self.reader.closed:
            loop = asyncio.get_running_loop()
            _, self.reader = await loop.create_connection(_Reader, self.host, self.port)
        reader = self.reader
        assert reader.transport is not None
        key = (method, path, tuple(headers.items()), body is not None)
        prefix = self.prefixes.get(key)
        if prefix is None:
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
            if body is not None:
                head.append("Content-Type: application/json")
            head += [f"{k}: {v}" for k, v in headers.items()]
            prefix = self.prefixes[key] = ("\r\n".join(head) + "\r\nContent-Length: ").encode()
        payload = b"" if body is None else json.dumps(body).encode()
        reader.waiter = asyncio.get_running_loop().create_future()
        reader.transport.write(b"%s%d\r\n\r\n%s" % (prefix, len(payload), payload))
        return await reader.waiter


async def flash_sale(config: dict[str, Any]) -> dict[str, Any]:
    hold_latencies: list[float] = []
    hold_starts: list[float] = []
    book_latencies: list[float] = []
    statuses: dict[int, int] = {}
    units = 0
    deadline = time.perf_counter() + config["seconds"]
    seat_ids: list[int] = config["seat_ids"]

    think = config.get("think_ms", 0) / 1000

    async def buyer(index: int) -> None:
        nonlocal units
        rng = random.Random(index)
        conn = Connection(config["host"], config["port"])
        headers = {"Authorization": f"Bearer {config['tokens'][index]}"}
        while time.perf_counter() < deadline:
            await pause(rng, think)
            wanted = ask(rng)
            body: dict[str, Any] = {"showtime_id": config["showtime_id"]}
            if wanted.seat_indexes and config.get("best_available"):
                body["quantity"] = len(wanted.seat_indexes)  # adjacent, best first
            elif wanted.seat_indexes:
                body["seat_ids"] = [seat_ids[i] for i in wanted.seat_indexes]
            else:
                body["section_id"] = config["floor_section_id"]
                body["quantity"] = wanted.ga_quantity
            started = time.perf_counter()
            status, content, _ = await conn.request_raw(
                "POST", "/api/bookings/hold-seats", headers, body
            )
            hold_latencies.append(time.perf_counter() - started)
            hold_starts.append(started)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 201:
                continue
            hold = json.loads(content)
            await pause(rng, think)
            started = time.perf_counter()
            status, _, _ = await conn.request_raw(
                "POST", "/api/bookings/create", headers, {"hold_id": hold["id"]}
            )
            book_latencies.append(time.perf_counter() - started)
            if status == 201:
                units += len(hold["units"])
            statuses[1000 + status] = statuses.get(1000 + status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(buyer(i) for i in range(config["buyers"])))
    elapsed = time.perf_counter() - started
    holds_ok = statuses.get(201, 0)
    # Paced runs: the sale's opening (every buyer's first step within 1.5 x think time)
    # is a burst; latency after it is the steady state.
    opening = started + 1.5 * think
    steady = [lat for t, lat in zip(hold_starts, hold_latencies, strict=True) if t >= opening]
    return {
        "seconds": round(elapsed, 1),
        "holds_per_s": round(holds_ok / elapsed, 1),
        "hold_attempts_per_s": round(len(hold_latencies) / elapsed, 1),
        "bookings_per_s": round(statuses.get(1201, 0) / elapsed, 1),
        "refusals_409": statuses.get(409, 0),
        "other_statuses": {str(k): v for k, v in statuses.items() if k not in (201, 409, 1201)},
        "units_booked": units,
        "hold_p50_ms": round(percentile(hold_latencies, 50) * 1000, 1),
        "hold_p95_ms": round(percentile(hold_latencies, 95) * 1000, 1),
        "hold_p99_ms": round(percentile(hold_latencies, 99) * 1000, 1),
        **(
            {
                "hold_p95_ms_after_opening": round(percentile(steady, 95) * 1000, 1),
                "hold_p99_ms_after_opening": round(percentile(steady, 99) * 1000, 1),
            }
            if think
            else {}
        ),
        "book_p50_ms": round(percentile(book_latencies, 50) * 1000, 1),
        "book_p99_ms": round(percentile(book_latencies, 99) * 1000, 1),
    }


async def seat_map_reads(config: dict[str, Any]) -> dict[str, Any]:
    conn = Connection(config["host"], config["port"])
    path = f"/api/showtimes/{config['showtime_id']}/seats"
    results: dict[str, Any] = {}
    for label, headers in (("gzip", {"Accept-Encoding": "gzip"}), ("identity", {})):
        timings = []
        size = 0
        for _ in range(config["reads"]):
            started = time.perf_counter()
            status, content, _ = await conn.request("GET", path, headers)
            timings.append(time.perf_counter() - started)
            assert status == 200, status
            size = len(content)
        etag_timings = []
        _, _, response_headers = await conn.request("GET", path, headers)
        for _ in range(config["reads"]):
            started = time.perf_counter()
            status, _, _ = await conn.request(
                "GET", path, {**headers, "If-None-Match": response_headers["etag"]}
            )
            etag_timings.append(time.perf_counter() - started)
        results[label] = {
            "bytes": size,
            "p50_ms": round(percentile(timings, 50) * 1000, 2),
            "p95_ms": round(percentile(timings, 95) * 1000, 2),
            "not_modified_p50_ms": round(percentile(etag_timings, 50) * 1000, 2),
        }
    return results


async def floor(config: dict[str, Any]) -> dict[str, Any]:
    """The same closed loop on one cheap GET (no sale): what a request costs the server
    before the sale's own work, for comparison with the sale's CPU per request."""
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + config["seconds"]
    tokens: list[str] = config.get("tokens") or []

    async def client(index: int) -> None:
        conn = Connection(config["host"], config["port"])
        headers = {"Authorization": f"Bearer {tokens[index]}"} if tokens else {}
        while time.perf_counter() < deadline:
            status, _, _ = await conn.request_raw("GET", config["path"], headers)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(config["clients"])))
    elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 1),
        "requests": sum(statuses.values()),
        "requests_per_s": round(sum(statuses.values()) / elapsed, 1),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def main() -> None:
    config = json.loads(sys.stdin.read())
    runner = {"flash_sale": flash_sale, "seat_map": seat_map_reads, "floor": floor}[config["mode"]]
    print(json.dumps(uvloop.run(runner(config))))


if __name__ == "__main__":
    main()
