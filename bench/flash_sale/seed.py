"""The bench data: one showtime of 50,000 reserved seats plus a 20,000-place GA floor."""

import asyncio
import contextlib
import os
import random
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from boxoffice.db.engine import plain_url
from boxoffice.db.migrate import upgrade

ROWS = 200
SEATS_PER_ROW = 250
GA_CAPACITY = 20_000


@dataclass(frozen=True)
class BenchData:
    showtime_id: uuid.UUID
    reserved_section_id: uuid.UUID
    floor_section_id: uuid.UUID
    seat_ids: list[int]
    """Reserved seats best first (row nearest the stage, then seat number)."""
    buyer_ids: list[uuid.UUID]


@contextlib.contextmanager
def seeded_database(buyers: int) -> Iterator[tuple[str, BenchData]]:
    """A throwaway database on the benchmarks' server (`BOXOFFICE_BENCH_DATABASE_URL`, else
    the tests', else the app's), migrated and seeded (`seed`), dropped afterwards: its DSN
    and data. For a benchmark's `main` (it runs its own event loops)."""
    server = _server_dsn()
    dsn = asyncio.run(_create_database(server))
    try:
        upgrade(dsn)
        yield dsn, asyncio.run(seed(dsn, buyers))
    finally:
        asyncio.run(_drop_database(server, dsn))


def _server_dsn() -> str:
    for name in (
        "BOXOFFICE_BENCH_DATABASE_URL",
        "BOXOFFICE_TEST_DATABASE_URL",
        "BOXOFFICE_DATABASE_URL",
    ):
        if os.environ.get(name):
            return plain_url(os.environ[name])
    sys.exit("set BOXOFFICE_BENCH_DATABASE_URL to a PostgreSQL server (any database on it)")


async def _create_database(server: str) -> str:
    name = f"boxoffice_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def _drop_database(server: str, dsn: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        name = make_url(dsn).database
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(dsn: str, buyers: int) -> BenchData:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            organizer = await conn.fetchval(
                "INSERT INTO users (email, full_name, role, is_active, token_version) "
                "VALUES ('organizer@bench.test', 'Bench', 'organizer', true, 0) RETURNING id"
            )
            city = await conn.fetchval(
                "INSERT INTO cities (name, country, latitude, longitude, timezone) "
                "VALUES ('Bench City', 'US', 0, 0, 'UTC') RETURNING id"
            )
            venue = await conn.fetchval(
                "INSERT INTO venues (organizer_id, city_id, name, address, latitude, longitude,"
                " timezone, description) VALUES ($1, $2, 'Arena', '', 0, 0, 'UTC', '')"
                " RETURNING id",
                organizer,
                city,
            )
            reserved = await conn.fetchval(
                "INSERT INTO sections (venue_id, name, kind, capacity, sort_order) "
                "VALUES ($1, 'Bowl', 'reserved', $2, 0) RETURNING id",
                venue,
                ROWS * SEATS_PER_ROW,
            )
            floor = await conn.fetchval(
                "INSERT INTO sections (venue_id, name, kind, capacity, sort_order) "
                "VALUES ($1, 'Floor', 'general_admission', $2, 1) RETURNING id",
                venue,
                GA_CAPACITY,
            )
            await conn.execute(
                "INSERT INTO seats (section_id, row_label, row_index, number, x, y, accessible) "
                "SELECT $1, 'R' || r, r, n, n, r * 1.2, false "
                "FROM generate_series(0, $2 - 1) r, generate_series(1, $3) n",
                reserved,
                ROWS,
                SEATS_PER_ROW,
            )
            event = await conn.fetchval(
                "INSERT INTO events (organizer_id, title, description, event_type, status, images,"
                " metadata, sale_starts_at, hold_ttl_seconds, max_tickets_per_booking,"
                " published_at) VALUES ($1, 'Flash sale', '', 'music', 'published', '[]', '{}',"
                " now() - interval '1 day', 600, 10, now()) RETURNING id",
                organizer,
            )
            showtime = await conn.fetchval(
                "INSERT INTO showtimes (event_id, venue_id, starts_at, ends_at, status) VALUES "
                "($1, $2, now() + interval '7 days', now() + interval '7 days 2 hours',"
                " 'scheduled') RETURNING id",
                event,
                venue,
            )
            for section, name in ((reserved, "Bowl"), (floor, "Floor")):
                await conn.execute(
                    "INSERT INTO price_tiers (showtime_id, section_id, name, price_minor, currency)"
                    " VALUES ($1, $2, $3, 5000, 'USD')",
                    showtime,
                    section,
                    name,
                )
            await conn.execute(
                "INSERT INTO inventory_units (showtime_id, section_id, seat_id, ga_slot, state) "
                "SELECT $1::uuid, s.section_id, s.id, NULL::int, 'available' FROM seats s "
                "WHERE s.section_id = $2 UNION ALL "
                "SELECT $1::uuid, $3::uuid, NULL::bigint, g, 'available'"
                " FROM generate_series(1, $4) g",
                showtime,
                reserved,
                floor,
                GA_CAPACITY,
            )
            buyer_ids = [
                r[0]
                for r in await conn.fetch(
                    "INSERT INTO users (email, full_name, role, is_active, token_version) "
                    "SELECT 'buyer' || i || '@bench.test', 'Buyer', 'buyer', true, 0 "
                    "FROM generate_series(1, $1) i RETURNING id",
                    buyers,
                )
            ]
        seat_ids = [
            r[0]
            for r in await conn.fetch(
                "SELECT id FROM seats WHERE section_id = $1 ORDER BY row_index, number", reserved
            )
        ]
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return BenchData(showtime, reserved, floor, seat_ids, buyer_ids)


async def reset_stock(dsn: str, showtime_id: uuid.UUID) -> None:
    """Everything back on sale, no holds or bookings left."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "TRUNCATE tickets, bookings, holds, outbox_events, idempotency_keys CASCADE"
        )
        await conn.execute(
            "UPDATE inventory_units SET state = 'available', hold_id = NULL, held_until = NULL,"
            " booking_id = NULL WHERE showtime_id = $1 AND state <> 'available'",
            showtime_id,
        )
        # This machine's server runs without autovacuum: each run's dead rows would otherwise
        # be left for the next run to step over (the version shards are updated on every claim).
        await conn.execute("VACUUM ANALYZE inventory_units, inventory_versions")
        # Every run starts with the previous run's (or the seed's) changes on disk, so no run
        # pays for flushing another's. Needs a superuser or pg_checkpoint; skipped without.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def presell(dsn: str, data: BenchData, rows_pct: int) -> int:
    """Take 97% of the seats of the front `rows_pct`% of rows off sale (blocked), their few
    free seats scattered: the map late in a sale, for best-available buyers. Run before the
    server starts, so its map is loaded with them. Answers how many were taken."""
    rows = ROWS * rows_pct // 100
    rng = random.Random(rows_pct)
    taken = [s for s in data.seat_ids[: rows * SEATS_PER_ROW] if rng.random() < 0.97]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE inventory_units SET state = 'blocked' WHERE showtime_id = $1"
            " AND seat_id = ANY($2::bigint[])",
            data.showtime_id,
            taken,
        )
    finally:
        await conn.close()
    return len(taken)


async def oversold(dsn: str, showtime_id: uuid.UUID) -> dict[str, int]:
    """Database check: any unit in two live bookings, or a live hold/booking short of units."""
    conn = await asyncpg.connect(dsn)
    try:
        doubled = await conn.fetchval(
            "SELECT count(*) FROM (SELECT t.unit_id FROM tickets t JOIN bookings b"
            " ON b.id = t.booking_id WHERE b.status IN ('pending_payment', 'confirmed')"
            " GROUP BY t.unit_id HAVING count(*) > 1) d"
        )
        short = await conn.fetchval(
            "SELECT count(*) FROM bookings b WHERE b.status = 'pending_payment' AND"
            " (SELECT count(*) FROM inventory_units u WHERE u.booking_id = b.id"
            "  AND u.state = 'held') <> b.quantity"
        )
        taken = await conn.fetchval(
            "SELECT count(*) FROM inventory_units WHERE showtime_id = $1 AND state <> 'available'",
            showtime_id,
        )
        booked = await conn.fetchval(
            "SELECT COALESCE(sum(quantity), 0) FROM bookings WHERE status = 'pending_payment'"
        )
    finally:
        await conn.close()
    return {
        "units_in_two_bookings": int(doubled),
        "bookings_missing_units": int(short),
        "units_taken": int(taken),
        "units_booked": int(booked),
    }
