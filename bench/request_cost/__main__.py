"""`./dev bench request_cost [--clients 16] [--requests 3000] [--profile sale]`: the
server's CPU per request, in one process, with no sockets and no load generator.

The flash-sale bench measures the served process from outside, beside its load generator
and PostgreSQL on the same cores. This drives the app straight through ASGI (scope in,
messages out) on the flash sale's data, so its figures are the app's own Python and its
database driver: `/health` (no session), `/api/users/me` (a signed-in request: token check
in one transaction), and the sale (`hold-seats` with seat ids, then `create`). Each runs with
`--clients` concurrent callers; CPU is this process's (`time.process_time`), so PostgreSQL's
work is not in it. `--profile NAME` runs that workload again under cProfile and prints the
functions that cost the most (own time and cumulative).

Needs a PostgreSQL server: BOXOFFICE_BENCH_DATABASE_URL, else BOXOFFICE_TEST_DATABASE_URL,
else BOXOFFICE_DATABASE_URL. A throwaway database is created on it and dropped afterwards.
"""

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from bench.flash_sale.seed import BenchData, reset_stock, seeded_database
from bench.flash_sale.workload import ask
from boxoffice.auth.models import Role
from boxoffice.auth.security import create_access_token
from boxoffice.config import AuthSettings

WORKLOADS = ("health", "me", "sale")

Call = Callable[[str, str, bytes | None, bytes | None], Awaitable[tuple[int, bytes]]]


def _asgi_client(app: Any) -> Call:
    """One request through the ASGI app: (method, path, token, JSON body) -> (status, body)."""

    async def call(
        method: str, path: str, token: bytes | None, body: bytes | None
    ) -> tuple[int, bytes]:
        headers = [(b"host", b"bench"), (b"accept", b"application/json")]
        if token is not None:
            headers.append((b"authorization", b"Bearer " + token))
        if body is not None:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the client never disconnects
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status, b"".join(chunks)

    return call


async def _workload(
    call: Call, name: str, data: BenchData, tokens: list[bytes], clients: int, requests: int
) -> dict[str, Any]:
    """`requests` requests from `clients` concurrent callers; CPU and wall per request."""
    statuses: dict[str, int] = {}
    left = requests

    async def client(index: int) -> None:
        nonlocal left
        rng = random.Random(index)
        token = tokens[index % len(tokens)]
        showtime = str(data.showtime_id)
        while left > 0:
            left -= 1
            if name == "health":
                status, _ = await call("GET", "/health", None, None)
            elif name == "me":
                status, _ = await call("GET", "/api/users/me", token, None)
            else:
                wanted = ask(rng)
                if wanted.seat_indexes:
                    hold: dict[str, Any] = {
                        "showtime_id": showtime,
                        "seat_ids": [data.seat_ids[i] for i in wanted.seat_indexes],
                    }
                else:
                    hold = {
                        "showtime_id": showtime,
                        "section_id": str(data.floor_section_id),
                        "quantity": wanted.ga_quantity,
                    }
                status, content = await call(
                    "POST", "/api/bookings/hold-seats", token, json.dumps(hold).encode()
                )
                if status == 201:
                    left -= 1
                    held = json.loads(content)["id"]
                    booked, _ = await call(
                        "POST",
                        "/api/bookings/create",
                        token,
                        json.dumps({"hold_id": held}).encode(),
                    )
                    statuses[f"create {booked}"] = statuses.get(f"create {booked}", 0) + 1
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = requests - left
    return {
        "requests": done,
        "cpu_ms_per_request": round(cpu * 1000 / done, 3),
        "wall_ms_per_request": round(wall * 1000 / done, 3),
        "statuses": statuses,
    }


async def _measure(dsn: str, data: BenchData, args: argparse.Namespace) -> dict[str, Any]:
    # The served copy's settings, as `bench/flash_sale` starts it.
    os.environ.update(
        {
            "BOXOFFICE_DATABASE_URL": dsn,
            "BOXOFFICE_DATABASE_POOL_SIZE": str(args.pool_size),
            "BOXOFFICE_DATABASE_MAX_OVERFLOW": "0",
            "BOXOFFICE_LOG_ACCESS": "false",
            "BOXOFFICE_LOG_LEVEL": "WARNING",
            "BOXOFFICE_BOOKING_HOLD_ATTEMPTS_PER_MINUTE": "1000000",
        }
    )
    from boxoffice.app import create_app
    from boxoffice.config import Settings

    app = create_app(Settings())
    auth = AuthSettings()
    tokens = [
        create_access_token(auth, user_id=u, role=Role.buyer, token_version=0, ttl=None).encode()
        for u in data.buyer_ids
    ]
    call = _asgi_client(app)
    report: dict[str, Any] = {"clients": args.clients, "requests_per_workload": args.requests}
    async with app.router.lifespan_context(app):
        # Warm-up: first uses of each route, statement and code path.
        for name in args.workloads:
            await _workload(call, name, data, tokens, args.clients, 200)
        for round_ in range(args.rounds):
            for name in args.workloads:
                if name == "sale":
                    await reset_stock(dsn, data.showtime_id)
                result = await _workload(call, name, data, tokens, args.clients, args.requests)
                report.setdefault(name, []).append(result)
                print(f"round {round_} {name}", json.dumps(result), file=sys.stderr)
        if args.profile:
            await reset_stock(dsn, data.showtime_id)
            profiler = cProfile.Profile()
            profiler.enable()
            await _workload(call, args.profile, data, tokens, args.clients, args.requests)
            profiler.disable()
            if args.profile_file:
                profiler.dump_stats(args.profile_file)
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
                print(out.getvalue(), file=sys.stderr)
    cpu = {
        name: min(r["cpu_ms_per_request"] for r in report[name])
        for name in report
        if isinstance(report[name], list)
    }
    report["best_cpu_ms_per_request"] = cpu
    if {"sale", "me", "health"} <= set(cpu):
        report["ratio_sale_to_me"] = round(cpu["sale"] / cpu["me"], 2)
        report["ratio_me_to_health"] = round(cpu["me"] / cpu["health"], 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench request_cost")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=3000, help="per workload and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool-size", type=int, default=16)
    parser.add_argument(
        "--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), metavar="NAME"
    )
    parser.add_argument("--profile", choices=WORKLOADS)
    parser.add_argument("--top", type=int, default=45, help="profile lines to print")
    parser.add_argument("--profile-file", help="also write the profile (pstats) here")
    args = parser.parse_args()
    with seeded_database(max(args.clients, 50)) as (dsn, data):
        # On uvloop, as `boxoffice serve` (uvicorn) runs the app.
        report = uvloop.run(_measure(dsn, data, args))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
