"""Catalog read benchmark: search, filtered list and "near me" through HTTP, against the
same SQL run directly on asyncpg.

    ./dev bench catalog [--events 100000] [--cities 500] [--requests 600] [--concurrency 8]

Creates a throwaway database on the server given by --dsn (default: the local PostgreSQL
at 127.0.0.1:5432), seeds it with set-based SQL, starts `python -m boxoffice serve` on it
as a subprocess, drives it with an async httpx load generator, prints p50/p95 per endpoint,
and drops the database again.
"""

import argparse
import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.catalog.seed import ADJECTIVES, EVENT_TYPES, NOUNS, seed
from bench.catalog.sql import to_asyncpg
from boxoffice.catalog.models import EventType
from boxoffice.catalog.queries import (
    CORRECTIONS_SQL,
    FACTS_SQL,
    MAX_CORRECTIONS,
    NEAREST_PLACES_SQL,
    EventFilters,
    list_query,
    nearby_query,
    search_query,
    search_words,
)
from boxoffice.db.engine import plain_url
from boxoffice.db.migrate import upgrade
from boxoffice.kit.pagination import SortOrder

PAGE = 20


@dataclass
class Case:
    """One request: the HTTP path + params, and how to build the SQL the endpoint runs."""

    path: str
    params: dict[str, Any]
    filters: EventFilters
    page_sql: Callable[[EventFilters], tuple[str, dict[str, Any]]]
    center: tuple[float, float] | None = None


@dataclass
class Result:
    name: str
    latencies_ms: list[float]
    seconds: float
    errors: int

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :]


def search_cases(rng: random.Random, count: int) -> list[Case]:
    cases = []
    for _ in range(count):
        words = [rng.choice(NOUNS)]
        if rng.random() < 0.5:
            words.insert(0, rng.choice(ADJECTIVES))
        if rng.random() < 0.5:
            words = [_typo(w, rng) for w in words]
        q = " ".join(words)
        filters = EventFilters(words=search_words(q))
        query = " ".join(filters.words)
        cases.append(
            Case("/api/events/search", {"q": q}, filters, partial(search_query, query=query))
        )
    return cases


def list_cases(rng: random.Random, count: int, city_ids: list[uuid.UUID]) -> list[Case]:
    cases = []
    now = datetime.now(UTC)
    for n in range(count):
        kind = n % 3
        params: dict[str, Any]
        if kind == 0:
            city = rng.choice(city_ids)
            filters = EventFilters(city_id=city)
            params = {"city_id": str(city), "sort": "starts_at"}
            sort, order = "starts_at", SortOrder.asc
        elif kind == 1:
            event_type = rng.choice(EVENT_TYPES)
            start = now + timedelta(days=rng.randrange(0, 80))
            filters = EventFilters(
                event_type=EventType(event_type),
                starts_after=start,
                starts_before=start + timedelta(days=7),
            )
            params = {
                "event_type": event_type,
                "starts_after": start.isoformat(),
                "starts_before": (start + timedelta(days=7)).isoformat(),
                "sort": "price",
            }
            sort, order = "price", SortOrder.asc
        else:
            city = rng.choice(city_ids)
            event_type = rng.choice(EVENT_TYPES)
            filters = EventFilters(city_id=city, event_type=EventType(event_type))
            params = {"city_id": str(city), "event_type": event_type, "sort": "title"}
            sort, order = "title", SortOrder.asc
        cases.append(
            Case(
                "/api/events",
                params,
                filters,
                partial(list_query, sort=sort, order=order),
            )
        )
    return cases


def nearby_cases(rng: random.Random, count: int, centers: list[tuple[float, float]]) -> list[Case]:
    cases = []
    for _ in range(count):
        lat, lon = rng.choice(centers)
        params = {"latitude": lat, "longitude": lon, "radius": 50}
        cases.append(
            Case(
                "/api/events/by-location",
                params,
                EventFilters(),
                partial(nearby_query, latitude=lat, longitude=lon, radius_km=50),
                center=(lat, lon),
            )
        )
    return cases


async def drive(
    name: str, cases: list[Case], concurrency: int, call: Callable[[Case], Awaitable[bool]]
) -> Result:
    queue = list(reversed(cases))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while queue:
            case = queue.pop()
            started = time.perf_counter()
            ok = await call(case)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += 0 if ok else 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, latencies, time.perf_counter() - started, errors)


def http_call(client: httpx.AsyncClient) -> Callable[[Case], Awaitable[bool]]:
    async def call(case: Case) -> bool:
        response = await client.get(case.path, params={**case.params, "limit": PAGE})
        return response.status_code == 200

    return call


def sql_call(pool: Any) -> Callable[[Case], Awaitable[bool]]:
    """The endpoint's database work: spelling corrections (when there are words), the page
    query, the page's events and their aggregated facts."""

    async def call(case: Case) -> bool:
        filters = EventFilters(**{**case.filters.__dict__, "corrections": {}})
        async with pool.acquire() as conn, conn.transaction():
            if filters.words:
                spell, spell_args = to_asyncpg(
                    CORRECTIONS_SQL, {"words": filters.words, "n": MAX_CORRECTIONS}
                )
                for row in await conn.fetch(spell, *spell_args):
                    filters.corrections.setdefault(row["query_word"], []).append(row["word"])
            sql, params = case.page_sql(filters)
            statement, args = to_asyncpg(sql, {**params, "limit": PAGE, "offset": 0})
            rows = await conn.fetch(statement, *args)
            ids = [r["id"] for r in rows]
            if ids:
                facts, facts_args = to_asyncpg(FACTS_SQL, {"ids": ids})
                await conn.fetch(facts, *facts_args)
                await conn.fetch("SELECT * FROM events WHERE id = ANY($1::uuid[])", ids)
                if case.center is not None:
                    nearest, nearest_args = to_asyncpg(
                        NEAREST_PLACES_SQL,
                        {"ids": ids, "lat": case.center[0], "lon": case.center[1]},
                    )
                    await conn.fetch(nearest, *nearest_args)
        return True

    return call


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(dsn: str, port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "BOXOFFICE_DATABASE_URL": dsn,
        "BOXOFFICE_LOG_ACCESS": "false",
        "BOXOFFICE_LOG_LEVEL": "WARNING",
        "BOXOFFICE_DATABASE_POOL_SIZE": "10",
    }
    command = [sys.executable, "-m", "boxoffice", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env)  # noqa: S603 - our own CLI
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/ready")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready in 90 s")


def table(rows: list[tuple[str, Result, Result]]) -> str:
    lines = [
        "| endpoint | HTTP p50 ms | HTTP p95 ms | HTTP req/s | SQL p50 ms | SQL p95 ms "
        "| p50 ratio HTTP/SQL | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, http, sql in rows:
        lines.append(
            f"| {name} | {http.pct(0.5):.1f} | {http.pct(0.95):.1f} | {http.rps:.0f} "
            f"| {sql.pct(0.5):.1f} | {sql.pct(0.95):.1f} "
            f"| {http.pct(0.5) / max(sql.pct(0.5), 0.001):.1f} | {http.errors} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    server_dsn = plain_url(args.dsn)
    name = f"boxoffice_bench_catalog_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_url(server_dsn).set(database=name).render_as_string(hide_password=False)
    try:
        t0 = time.perf_counter()
        await asyncio.to_thread(upgrade, dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await seed(conn, events=args.events, cities=args.cities)
            city_rows = await conn.fetch("SELECT id, latitude, longitude FROM cities")
        finally:
            await conn.close()
        print(
            f"seeded {args.events} events over {args.cities} cities "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        rng = random.Random(7)
        city_ids = [r["id"] for r in city_rows]
        centers = [(r["latitude"], r["longitude"]) for r in city_rows]
        n = args.requests
        scenarios = [
            ("GET /api/events/search", search_cases(rng, n)),
            ("GET /api/events (filtered)", list_cases(rng, n, city_ids)),
            ("GET /api/events/by-location", nearby_cases(rng, n, centers)),
        ]
        rows: list[tuple[str, Result, Result]] = []
        port = args.port or _free_port()
        limits = httpx.Limits(max_connections=args.concurrency)
        with server(dsn, port, args.workers) as process:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
            ) as client:
                await wait_ready(client, process)
                pool = await asyncpg.create_pool(
                    dsn, min_size=args.concurrency, max_size=args.concurrency
                )
                try:
                    for label, cases in scenarios:
                        warm = cases[: max(1, len(cases) // 10)]
                        await drive(label, warm, args.concurrency, http_call(client))
                        http = await drive(label, cases, args.concurrency, http_call(client))
                        sql = await drive(label, cases, args.concurrency, sql_call(pool))
                        rows.append((label, http, sql))
                        print(
                            f"{label}: HTTP p50 {http.pct(0.5):.1f} ms, "
                            f"p95 {http.pct(0.95):.1f} ms",
                            flush=True,
                        )
                finally:
                    await pool.close()
        report = table(rows)
        print(
            f"\n{args.events} events, {args.cities} cities, {n} requests per endpoint, "
            f"concurrency {args.concurrency}, {args.workers} server worker(s)\n"
        )
        print(report)
        return report
    finally:
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog", description=__doc__)
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "BOXOFFICE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server where a throwaway database may be created",
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--cities", type=int, default=500)
    parser.add_argument("--requests", type=int, default=600, help="per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
