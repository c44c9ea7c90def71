"""Door benchmark: the scanner manifest, the door list and the door count of a 50,000-ticket
showtime, through HTTP and as the same SQL on asyncpg, in one run; and the organizer's
bookings CSV of that showtime, with what it does to `/health` answered by the same worker.

    BOXOFFICE_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
      ./dev bench door [--tickets 50000] [--other-tickets 50000] [--reads 20]

Creates a throwaway database, seeds the flash-sale venue (bench/flash_sale/seed.py) and
issues `--tickets` paid tickets on its showtime plus `--other-tickets` on a second showtime,
so the planner has another showtime's tickets to step over; starts `boxoffice serve` (one
worker) and prints one JSON report: p50 / p95 per read through HTTP, the SQL alone, and
their ratio.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from bench.flash_sale import __main__ as flash
from bench.flash_sale.seed import seeded_database
from boxoffice.auth.models import Role
from boxoffice.auth.security import create_access_token
from boxoffice.config import AuthSettings

# One booking of four tickets per `n / 4`, spread over 200 named buyers.
_ISSUE = """
WITH u AS (
    SELECT id, section_id, seat_id, row_number() OVER (ORDER BY id) - 1 AS n
      FROM inventory_units WHERE showtime_id = $1 ORDER BY id LIMIT $4
),
h AS (
    INSERT INTO holds (id, showtime_id, user_id, status, quantity, created_at, expires_at,
                       max_expires_at)
    SELECT gen_random_uuid(), $1, ($3::uuid[])[1 + g % array_length($3::uuid[], 1)],
           'converted', 4, now(), now(), now()
      FROM generate_series(0, ($4 - 1) / 4) g
    RETURNING id, user_id
),
b AS (
    INSERT INTO bookings (id, user_id, showtime_id, event_id, hold_id, status, quantity,
                          total_minor, currency, expires_at, version, complimentary, metadata)
    SELECT gen_random_uuid(), h.user_id, $1, $2, h.id, 'confirmed', 4, 0, 'USD', now(), 1,
           true, '{}'::jsonb
      FROM h
    RETURNING id
),
numbered AS (SELECT id, row_number() OVER () - 1 AS k FROM b)
INSERT INTO tickets (id, booking_id, unit_id, section_id, seat_id, label, price_minor,
                     currency, status)
SELECT gen_random_uuid(), numbered.id, u.id, u.section_id, u.seat_id, 'Seat ' || u.n, 0,
       'USD', 'issued'
  FROM u JOIN numbered ON numbered.k = u.n / 4
"""
_SECOND_SHOWTIME = """
WITH s AS (
    INSERT INTO showtimes (event_id, venue_id, starts_at, ends_at, status)
    SELECT event_id, venue_id, starts_at + interval '1 day', ends_at + interval '1 day',
           'scheduled'
      FROM showtimes WHERE id = $1
    RETURNING id
), units AS (
    INSERT INTO inventory_units (showtime_id, section_id, seat_id, ga_slot, state)
    SELECT s.id, u.section_id, u.seat_id, u.ga_slot, 'sold'
      FROM s, inventory_units u WHERE u.showtime_id = $1
)
SELECT id FROM s
"""
# The statements the endpoints send, for the SQL-alone side (same joins, filters, order).
_MANIFEST_SQL = """
SELECT t.id, t.unit_id, t.code_version, t.status, t.section_id, t.seat_id, t.label,
       t.checked_in_at
  FROM tickets t JOIN bookings b ON b.id = t.booking_id
 WHERE b.showtime_id = $1 AND t.status IN ('issued', 'void') AND t.id > $2
 ORDER BY t.id LIMIT 1000
"""
_DOOR_LIST_SQL = """
SELECT t.id, t.booking_id, b.showtime_id, t.unit_id, t.section_id, t.seat_id, t.label,
       t.checked_in_at, t.checked_in_by, coalesce(h.full_name, u.full_name) AS holder_name
  FROM tickets t JOIN bookings b ON b.id = t.booking_id JOIN users u ON u.id = b.user_id
  LEFT JOIN users h ON h.id = t.holder_id
 WHERE b.showtime_id = $1 AND t.status = 'issued'
 ORDER BY lower(coalesce(h.full_name, u.full_name)), t.label, t.id LIMIT 100
"""
_SUMMARY_SQL = """
SELECT count(*), count(t.checked_in_at)
  FROM tickets t JOIN bookings b ON b.id = t.booking_id
 WHERE b.showtime_id = $1 AND t.status = 'issued'
"""


async def _issue(dsn: str, data: Any, tickets: int, other: int) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE users SET full_name = 'Buyer ' || substr(md5(id::text), 1, 8)"
            " WHERE role = 'buyer'"
        )
        event_id = await conn.fetchval(
            "SELECT event_id FROM showtimes WHERE id = $1", data.showtime_id
        )
        second = await conn.fetchval(_SECOND_SHOWTIME, data.showtime_id)
        # Fresh statistics, or the planner takes the new showtime's 70,000 units for none and
        # joins them to the bookings in a nested loop (minutes instead of seconds).
        await conn.execute("ANALYZE inventory_units")
        for showtime, count in ((data.showtime_id, tickets), (second, other)):
            if count:
                await conn.execute(_ISSUE, showtime, event_id, data.buyer_ids, count)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return uuid.UUID(str(second))


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
    }


async def _timed(reads: int, call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    await call()  # warm: first use of the statement on this connection
    samples = []
    for _ in range(reads):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


async def _measure(dsn: str, showtime_id: uuid.UUID, token: str, reads: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{flash.PORT}/api/showtimes/{showtime_id}/check-ins"
    headers = {"Authorization": f"Bearer {token}"}
    conn = await asyncpg.connect(dsn)
    report: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:

            async def get(url: str, **params: Any) -> Any:
                # httpx drops a URL's own query string when given params, even empty ones.
                response = await client.get(url, params=params or None)
                response.raise_for_status()
                return response.json()

            first = await get(f"{base}/manifest")
            middle = first["items"][-1]["ticket_id"]
            pages: dict[str, tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]] = {
                "manifest_first_page_1000": (
                    lambda: get(f"{base}/manifest"),
                    lambda: conn.fetch(_MANIFEST_SQL, showtime_id, uuid.UUID(int=0)),
                ),
                "manifest_next_page_1000": (
                    lambda: get(f"{base}/manifest", after=middle),
                    lambda: conn.fetch(_MANIFEST_SQL, showtime_id, uuid.UUID(middle)),
                ),
                "door_list_first_page_100": (
                    lambda: get(f"{base}/tickets", limit=100),
                    lambda: conn.fetch(_DOOR_LIST_SQL, showtime_id),
                ),
                "door_count": (
                    lambda: get(base),
                    lambda: conn.fetch(_SUMMARY_SQL, showtime_id),
                ),
            }
            for label, (http, sql) in pages.items():
                through_http = await _timed(reads, http)
                sql_alone = await _timed(reads, sql)
                report[label] = {
                    "http": through_http,
                    "sql": sql_alone,
                    "ratio_http_to_sql_p50": round(
                        through_http["p50_ms"] / max(sql_alone["p50_ms"], 0.01), 2
                    ),
                }
            started = time.perf_counter()
            url: str | None = f"{base}/manifest"
            tickets = pages_read = 0
            while url is not None:
                page = await get(url)
                tickets += len(page["items"])
                pages_read += 1
                url = page["next"]
            report["whole_manifest"] = {
                "tickets": tickets,
                "pages": pages_read,
                "ms": round((time.perf_counter() - started) * 1000),
            }
            report["export_csv"] = await _export(client, showtime_id)
    finally:
        await conn.close()
    return report


async def _export(client: httpx.AsyncClient, showtime_id: uuid.UUID) -> dict[str, Any]:
    """The organizer's bookings CSV of the showtime, and what it does to everyone else on
    the same worker: `/health` asked for back to back on another connection, alone and
    while the export runs (the worst wait is the event loop held by the export)."""
    root = f"http://127.0.0.1:{flash.PORT}"

    async def health_during(work: Awaitable[Any] | None, seconds: float = 1.0) -> list[float]:
        waits: list[float] = []
        task = asyncio.ensure_future(work) if work is not None else None
        deadline = time.perf_counter() + seconds
        async with httpx.AsyncClient(timeout=60) as other:
            while (task is not None and not task.done()) or time.perf_counter() < deadline:
                started = time.perf_counter()
                (await other.get(f"{root}/health")).raise_for_status()
                waits.append((time.perf_counter() - started) * 1000)
        if task is not None:
            await task
        return waits

    async def export() -> tuple[float, int, int]:
        started = time.perf_counter()
        response = await client.get(
            f"{root}/api/bookings/export.csv", params={"showtime_id": str(showtime_id)}
        )
        response.raise_for_status()
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, len(response.content), response.text.count("\n")

    await export()  # warm
    timings = [await export() for _ in range(3)]
    alone = await health_during(None)
    during = await health_during(export(), seconds=0)
    return {
        "rows": timings[0][2] - 1,
        "bytes": timings[0][1],
        "export_ms": _summary([t[0] for t in timings]),
        "health_alone_ms": {"p50": round(statistics.median(alone), 2), "max": round(max(alone), 2)},
        "health_during_export_ms": {
            "p50": round(statistics.median(during), 2),
            "max": round(max(during), 2),
            "requests": len(during),
        },
        "ratio_health_max_during_to_alone": round(max(during) / max(max(alone), 0.01), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench door")
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--other-tickets", type=int, default=50_000)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    with seeded_database(200) as (dsn, data):
        asyncio.run(_issue(dsn, data, args.tickets, args.other_tickets))
        organizer = asyncio.run(_organizer(dsn))
        token = create_access_token(
            AuthSettings(), user_id=organizer, role=Role.organizer, token_version=0, ttl=None
        )
        process = flash._serve(dsn, 1, 4)
        try:
            report = asyncio.run(_measure(dsn, data.showtime_id, token, args.reads))
        finally:
            process.terminate()
            process.wait(timeout=30)
    report = {"tickets": args.tickets, "other_showtime_tickets": args.other_tickets, **report}
    json.dump(report, sys.stdout, indent=2)
    print()


async def _organizer(dsn: str) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        return uuid.UUID(str(await conn.fetchval("SELECT organizer_id FROM events LIMIT 1")))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
