"""HTTP load generator, run in its own process: N buyers, each on a keep-alive connection,
hold then book in a loop. A minimal HTTP/1.1 client on asyncio streams (uvloop) keeps the
generator's own CPU cost far below the server's, which a general client library does not
on a 2-core machine."""

import asyncio
import json
import random
import sys
import time
from typing import Any

import uvloop

from bench.flash_sale.workload import ask, pause, percentile


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request; a broken connection answers status 0 and is reopened next time."""
        try:
            return await self._request(method, path, headers, body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            if self.writer is not None:
                self.writer.close()
            self.reader = self.writer = None
            return 0, b"", {}

    async def _request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes, dict[str, str]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}",
            f"Content-Length: {len(payload)}",
        ]
        if body is not None:
            head.append("Content-Type: application/json")
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        response_headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                response_headers[key.strip().lower()] = value.strip()
        length = int(response_headers.get("content-length", "0"))
        content = await self.reader.readexactly(length) if length else b""
        return status, content, response_headers


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
            status, content, _ = await conn.request(
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
            status, _, _ = await conn.request(
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
            status, _, _ = await conn.request("GET", config["path"], headers)
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
