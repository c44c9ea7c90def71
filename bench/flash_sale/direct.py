"""The API's own sale statements driven straight through asyncpg (the ceiling), and seed
001's per-seat `SELECT ... FOR UPDATE` transaction (the baseline).

Both make each successful hold into a pending booking, as the HTTP buyers do, with the very
statements `booking.holds.place_hold` and `booking.service.create_from_hold` send (imported
from `booking/repository.py` and `inventory/claim_repository.py`, not copied), in the same
order; the Python around them (pricing, ticket signing, HTTP, auth) is what is left out.
"""

import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.flash_sale.seed import BenchData
from bench.flash_sale.workload import ask, pause, percentile
from boxoffice.booking import repository as booking_sql
from boxoffice.db.driver import Sql
from boxoffice.inventory import claim_repository as claim_sql


async def _run(conn: Any, sql: Sql, **params: Any) -> list[Any]:
    rows: list[Any] = await conn.fetch(sql.text, *sql.args(params))
    return rows


async def _hold_tx(
    conn: Any, data: BenchData, user_id: uuid.UUID, seats: list[int], ga: int
) -> uuid.UUID | None:
    """`place_hold`: window + buyer lock, claim, insert + describe + count live holds."""
    hold_id = uuid.uuid4()
    async with conn.transaction():
        window = (
            await _run(
                conn,
                booking_sql.SALE_WINDOW_LOCKING_BUYER,
                showtime_id=data.showtime_id,
                buyer_key=f"hold:{user_id}:{data.showtime_id}",
            )
        )[0]
        now = window[10]
        until = now + timedelta(seconds=window[9])
        common = {"showtime_id": data.showtime_id, "hold_id": hold_id, "held_until": until}
        shard = claim_sql.random_shard()
        if seats:
            # Refused, the claim answers the named seats with whether each was free (what
            # the API's 409 names), in the same statement; claimed rows are flagged.
            named = await _run(
                conn, claim_sql.CLAIM_SEATS, **common, keys=seats, quantity=len(seats), shard=shard
            )
            rows = [r for r in named if r[2]]
        else:
            rows = await _run(
                conn,
                claim_sql.CLAIM_ANY,
                **common,
                section_id=data.floor_section_id,
                quantity=ga,
                shard=shard,
            )
        if len(rows) < (len(seats) or ga):
            return None
        await _run(
            conn,
            booking_sql.INSERT_HOLD_DESCRIBED,
            id=hold_id,
            showtime_id=data.showtime_id,
            user_id=user_id,
            quantity=len(rows),
            created_at=now,
            expires_at=until,
            max_expires_at=until,
        )
    return hold_id


async def _book_tx(conn: Any, data: BenchData, hold_id: uuid.UUID) -> bool:
    """`create_from_hold`: lock the hold in its window, move and price its units, then the
    booking, its tickets and the converted hold in one statement."""
    booking_id = uuid.uuid4()
    async with conn.transaction():
        row = (await _run(conn, booking_sql.LOCK_HOLD_IN_WINDOW, hold_id=hold_id))[0]
        until = row[10] + timedelta(minutes=15)
        lines = await _run(
            conn,
            claim_sql.ATTACH_BOOKING_PRICED,
            showtime_id=data.showtime_id,
            hold_id=hold_id,
            booking_id=booking_id,
            held_until=until,
            shard=claim_sql.random_shard(),
        )
        hold = row[booking_sql.WINDOW_WIDTH :]
        if len(lines) < hold[4]:
            return False
        ids = [uuid.uuid4() for _ in lines]
        total = sum(line[4] for line in lines)
        await _run(
            conn,
            booking_sql.INSERT_SALE,
            id=booking_id,
            user_id=hold[2],
            showtime_id=hold[1],
            event_id=row[3],
            hold_id=hold_id,
            quantity=len(lines),
            total_minor=total,
            currency="USD",
            expires_at=until,
            meta=json.dumps({"pricing": {"total_minor": total}}),
            ticket_ids=ids,
            unit_ids=[line[0] for line in lines],
            section_ids=[line[1] for line in lines],
            seat_ids=[line[2] for line in lines],
            labels=[line[3] for line in lines],
            prices=[line[4] for line in lines],
        )
    return True


async def _per_seat_hold_tx(
    conn: Any, data: BenchData, user_id: uuid.UUID, seats: list[int], ga: int
) -> uuid.UUID | None:
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
        await _run(
            conn,
            booking_sql.INSERT_HOLD,
            id=hold_id,
            showtime_id=data.showtime_id,
            user_id=user_id,
            quantity=len(ids),
            created_at=datetime.now(UTC),
            expires_at=until,
            max_expires_at=until,
        )
    return hold_id


class _Refused(Exception):
    pass


async def run(
    dsn: str,
    data: BenchData,
    *,
    buyers: int,
    pool_size: int,
    seconds: float,
    baseline: bool,
    think_ms: float = 0,
) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
    hold_latencies: list[float] = []
    book_latencies: list[float] = []
    refusals = 0
    deadlocks = 0
    bookings = 0
    units = 0
    deadline = time.perf_counter() + seconds
    hold_tx = _per_seat_hold_tx if baseline else _hold_tx

    async def buyer(index: int) -> None:
        nonlocal refusals, units, bookings, deadlocks
        rng = random.Random(index)
        user_id = data.buyer_ids[index]
        while time.perf_counter() < deadline:
            await pause(rng, think_ms / 1000)
            wanted = ask(rng)
            seats = [data.seat_ids[i] for i in wanted.seat_indexes]
            started = time.perf_counter()
            async with pool.acquire() as conn:
                try:
                    hold_id = await hold_tx(conn, data, user_id, seats, wanted.ga_quantity)
                except _Refused:
                    hold_id = None
                except asyncpg.DeadlockDetectedError:
                    # Row locks taken one by one can deadlock; PostgreSQL aborts one buyer.
                    deadlocks += 1
                    hold_id = None
            hold_latencies.append(time.perf_counter() - started)
            if hold_id is None:
                refusals += 1
                continue
            await pause(rng, think_ms / 1000)
            started = time.perf_counter()
            async with pool.acquire() as conn:
                try:
                    booked = await _book_tx(conn, data, hold_id)
                except asyncpg.DeadlockDetectedError:
                    # Only beside the baseline: its row-by-row locks wait on rows that a
                    # booking is moving, and PostgreSQL aborts one of the two.
                    deadlocks += 1
                    booked = False
            book_latencies.append(time.perf_counter() - started)
            if booked:
                bookings += 1
                units += len(seats) or wanted.ga_quantity

    started = time.perf_counter()
    await asyncio.gather(*(buyer(i) for i in range(buyers)))
    elapsed = time.perf_counter() - started
    await pool.close()
    successes = len(hold_latencies) - refusals
    return {
        "seconds": round(elapsed, 1),
        "holds_per_s": round(successes / elapsed, 1),
        "hold_attempts_per_s": round(len(hold_latencies) / elapsed, 1),
        "bookings_per_s": round(bookings / elapsed, 1),
        "refusals": refusals,
        "deadlocks": deadlocks,
        "units_booked": units,
        "hold_p50_ms": round(percentile(hold_latencies, 50) * 1000, 1),
        "hold_p95_ms": round(percentile(hold_latencies, 95) * 1000, 1),
        "hold_p99_ms": round(percentile(hold_latencies, 99) * 1000, 1),
        "book_p50_ms": round(percentile(book_latencies, 50) * 1000, 1),
        "book_p99_ms": round(percentile(book_latencies, 99) * 1000, 1),
    }
