"""The same claim SQL driven straight through asyncpg (the ceiling), and seed 001's per-seat
`SELECT ... FOR UPDATE` transaction (the baseline)."""

import asyncio
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.flash_sale.seed import BenchData
from bench.flash_sale.workload import ask, percentile
from boxoffice.inventory import claim_repository as sql

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


def positional(statement: str, names: list[str]) -> str:
    """SQLAlchemy `:name` parameters as asyncpg `$n` (order given by `names`)."""
    return _PARAM.sub(lambda m: f"${names.index(m.group(1)) + 1}", statement)


_EXPLICIT = ["showtime_id", "hold_id", "held_until", "keys", "quantity", "shard"]
CLAIM_SEATS = positional(sql._CLAIM_EXPLICIT.replace("{column}", "seat_id"), _EXPLICIT)
_ANY = ["showtime_id", "section_id", "quantity", "hold_id", "held_until", "shard"]
CLAIM_ANY = positional(sql._CLAIM_ANY, _ANY)
LIVE_HOLDS = (
    "WITH lapsed AS (UPDATE holds SET status = 'expired', ended_at = now() WHERE user_id = $1"
    " AND showtime_id = $2 AND status = 'active' AND expires_at < now())"
    " SELECT count(*) FROM holds WHERE user_id = $1 AND showtime_id = $2"
    " AND status = 'active' AND expires_at >= now()"
)
INSERT_HOLD = (
    "INSERT INTO holds (id, showtime_id, user_id, status, quantity, created_at, expires_at,"
    " max_expires_at) VALUES ($1, $2, $3, 'active', $4, now(), $5, $5)"
)


async def _hold_tx(
    conn: Any, data: BenchData, user_id: uuid.UUID, seats: list[int], ga: int
) -> bool:
    hold_id = uuid.uuid4()
    until = datetime.now(UTC) + timedelta(minutes=10)
    shard = random.randrange(sql.VERSION_SHARDS)
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"hold:{user_id}:{data.showtime_id}",
        )
        await conn.fetchval(LIVE_HOLDS, user_id, data.showtime_id)
        if seats:
            rows = await conn.fetch(
                CLAIM_SEATS, data.showtime_id, hold_id, until, seats, len(seats), shard
            )
            wanted = len(seats)
        else:
            rows = await conn.fetch(
                CLAIM_ANY, data.showtime_id, data.floor_section_id, ga, hold_id, until, shard
            )
            wanted = ga
        if len(rows) < wanted:
            return False
        await conn.execute(INSERT_HOLD, hold_id, data.showtime_id, user_id, wanted, until)
        # The hold becomes a booking straight away in this ceiling run.
        await conn.execute(
            "UPDATE holds SET status = 'converted', ended_at = now() WHERE id = $1", hold_id
        )
    return True


async def _per_seat_tx(
    conn: Any, data: BenchData, user_id: uuid.UUID, seats: list[int], ga: int
) -> bool:
    """Seed 001: lock each seat row with SELECT ... FOR UPDATE, check it, then update it."""
    hold_id = uuid.uuid4()
    until = datetime.now(UTC) + timedelta(minutes=10)
    async with conn.transaction():
        if seats:
            ids = [
                await conn.fetchval(
                    "SELECT id FROM inventory_units WHERE showtime_id = $1 AND seat_id = $2"
                    " AND (state = 'available' OR (state = 'held' AND held_until < now()))"
                    " FOR UPDATE",
                    data.showtime_id,
                    seat,
                )
                for seat in seats
            ]
        else:
            ids = [
                r[0]
                for r in await conn.fetch(
                    "SELECT id FROM inventory_units WHERE showtime_id = $1 AND section_id = $2"
                    " AND state = 'available' ORDER BY ga_slot LIMIT $3 FOR UPDATE",
                    data.showtime_id,
                    data.floor_section_id,
                    ga,
                )
            ]
        if None in ids or len(ids) < (len(seats) or ga):
            raise _Refused
        for unit_id in ids:
            await conn.execute(
                "UPDATE inventory_units SET state = 'held', hold_id = $2, held_until = $3"
                " WHERE id = $1",
                unit_id,
                hold_id,
                until,
            )
        await conn.execute(INSERT_HOLD, hold_id, data.showtime_id, user_id, len(ids), until)
    return True


class _Refused(Exception):
    pass


async def run(
    dsn: str, data: BenchData, *, buyers: int, pool_size: int, seconds: float, baseline: bool
) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
    latencies: list[float] = []
    refusals = 0
    units = 0
    deadline = time.perf_counter() + seconds
    tx = _per_seat_tx if baseline else _hold_tx

    async def buyer(index: int) -> None:
        nonlocal refusals, units
        rng = random.Random(index)
        user_id = data.buyer_ids[index]
        while time.perf_counter() < deadline:
            wanted = ask(rng)
            seats = [data.seat_ids[i] for i in wanted.seat_indexes]
            started = time.perf_counter()
            async with pool.acquire() as conn:
                try:
                    ok = await tx(conn, data, user_id, seats, wanted.ga_quantity)
                except _Refused:
                    ok = False
            latencies.append(time.perf_counter() - started)
            if ok:
                units += len(seats) or wanted.ga_quantity
            else:
                refusals += 1

    started = time.perf_counter()
    await asyncio.gather(*(buyer(i) for i in range(buyers)))
    elapsed = time.perf_counter() - started
    await pool.close()
    successes = len(latencies) - refusals
    return {
        "holds_per_s": round(successes / elapsed, 1),
        "attempts_per_s": round(len(latencies) / elapsed, 1),
        "refusals": refusals,
        "units": units,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }
