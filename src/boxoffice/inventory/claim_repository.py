"""SQL that changes unit state: claim, release, sell, free. Each statement also bumps one
shard of the showtime's version, in the same statement, so cached seat maps see the change.

A unit is claimable when it is available or its hold has expired (lazy expiry): no claim
ever waits for the sweeper. Claims are all or nothing inside the statement: when fewer
units than asked can be claimed, nothing is changed.

Lock order, in every transaction: the showtime's row (a purchase and the waitlist's offer
run share-lock it, a cancel updates it), then the waitlist entries, holds and bookings it
acts on (in that order), then units (in unit order: `_updating`), then the showtime's
version row (`transaction_shard`), last. A claim skips locked units, so it only ever waits
for the version row; whoever holds that row must not then wait for units. A transaction
freeing many holds or bookings locks all their units first
(`ClaimRepository.lock_claimable`).
"""

import random
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from boxoffice.db import driver
from boxoffice.db.driver import Sql
from boxoffice.db.transaction import Db, of

VERSION_SHARDS = 16

Keyed = tuple[int, int | None, bool, bool]
"""A unit named by id or seat: its id, its seat's id (None for a GA place), whether the
statement changed it, and whether it was free."""

CLAIMABLE = "(u.state = 'available' OR (u.state = 'held' AND u.held_until < now()))"
"""SQL: unit `u` may be claimed (free, or held by a hold whose time has passed)."""

UNIT_LABEL = (
    "CASE WHEN s.id IS NULL THEN sec.name"
    " ELSE sec.name || ' ' || s.row_label || '-' || s.number END"
)
"""A unit's label (`Stalls A-12`, or the section's name for a GA place), over `sections sec`
and `seats s` joined to it."""


def _bumping(change_sql: str, answer: str = "SELECT id FROM changed", before: str = "") -> Sql:
    """Wrap `UPDATE ... RETURNING u.id` so one version shard is bumped iff rows changed;
    `before`: CTEs the change reads (`name AS (...),`)."""
    return Sql(f"""
    WITH {before} changed AS ({change_sql}),
    bump AS (
        INSERT INTO inventory_versions (showtime_id, shard, version)
        SELECT CAST(:showtime_id AS uuid), :shard, 1 WHERE EXISTS (SELECT 1 FROM changed)
        ON CONFLICT (showtime_id, shard)
        DO UPDATE SET version = inventory_versions.version + 1
    )
    {answer}
    """)  # noqa: S608


def _updating(set_clause: str, where: str, returning: str = "u.id") -> str:
    """`UPDATE inventory_units u <set_clause> WHERE <where> RETURNING <returning>`, taking
    the rows' locks in unit order first. Every statement that may wait for units locks them
    in that order (`_LOCK_CLAIMABLE` too), so two of them never wait for each other in a
    circle. Claims never wait (`SKIP LOCKED`) and need no order."""
    return f"""UPDATE inventory_units u {set_clause}
      FROM (SELECT u.id FROM inventory_units u WHERE {where}
             ORDER BY u.id FOR NO KEY UPDATE) o
     WHERE u.id = o.id
    RETURNING {returning}"""  # noqa: S608


_HOLD_SET = (
    "SET state = 'held', hold_id = :hold_id, held_until = :held_until, booking_id = NULL, "
    "updated_at = now()"
)


# Explicit seats: a requested row that another buyer's transaction has locked is being
# claimed by them, so it counts as taken at once (SKIP LOCKED) instead of making this buyer
# queue behind them; lock waits would pile up connections in a flash sale.
def _explicit(set_clause: str, column: str) -> Sql:
    """Claim exactly the units (or seats) named in `:keys`, or none. Answers rows of (unit
    id, seat id, changed, free): every unit claimed (changed); or, when not all could be
    (then nothing changed), every named unit of the showtime with whether it was free,
    claimable and not being claimed by another transaction. So a refusal names the taken
    seats without another round trip, from the same snapshot as the claim."""
    return _bumping(
        f"""UPDATE inventory_units u {set_clause}
              FROM (SELECT id FROM free WHERE (SELECT count(*) FROM free) = :quantity) c
             WHERE u.id = c.id
            RETURNING u.id, u.seat_id""",  # noqa: S608
        f"""SELECT id, seat_id, true, true FROM changed
    UNION ALL
    SELECT u.id, u.seat_id, false, u.id IN (SELECT id FROM free) FROM inventory_units u
     WHERE NOT EXISTS (SELECT 1 FROM changed)
       AND u.showtime_id = :showtime_id AND u.{column} = ANY(:keys)""",  # noqa: S608
        before=f"""free AS (SELECT u.id FROM inventory_units u
                   WHERE u.showtime_id = :showtime_id AND u.{column} = ANY(:keys)
                     AND {CLAIMABLE}
                   FOR UPDATE SKIP LOCKED),""",  # noqa: S608
    )


def _any(set_clause: str) -> Sql:
    """Any N claimable places of a general-admission section: free ones first, lowest slot
    first, through the partial index of free places (`ix_inventory_units_free_places`), so
    the cost does not grow with what is already sold; lapsed holds only when free places run
    short (`lapsed` is read only if `free` gave too few)."""
    return _bumping(
        f"""
    UPDATE inventory_units u {set_clause}
      FROM (WITH free AS (SELECT u.id FROM inventory_units u
                           WHERE u.showtime_id = :showtime_id AND u.section_id = :section_id
                             AND u.state = 'available' AND u.ga_slot IS NOT NULL
                           ORDER BY u.ga_slot
                           LIMIT :quantity FOR UPDATE SKIP LOCKED),
                 lapsed AS (SELECT u.id FROM inventory_units u
                             WHERE u.showtime_id = :showtime_id AND u.section_id = :section_id
                               AND u.state = 'held' AND u.held_until < now()
                             LIMIT :quantity FOR UPDATE SKIP LOCKED),
                 c AS (SELECT id FROM free UNION ALL SELECT id FROM lapsed LIMIT :quantity)
            SELECT c.id FROM c WHERE (SELECT count(*) FROM c) = :quantity) c
     WHERE u.id = c.id
    RETURNING u.id
    """  # noqa: S608
    )


CLAIM_SEATS = _explicit(_HOLD_SET, "seat_id")
CLAIM_UNITS = _explicit(_HOLD_SET, "id")

# Held back by the organizer (house seats, broken seats, a smaller floor): claimed exactly
# like a hold, all or nothing, but for nobody and with no expiry.
_BLOCK_SET = (
    "SET state = 'blocked', hold_id = NULL, held_until = NULL, booking_id = NULL, "
    "updated_at = now()"
)
BLOCK_SEATS = _explicit(_BLOCK_SET, "seat_id")
BLOCK_UNITS = _explicit(_BLOCK_SET, "id")
BLOCK_ANY = _any(_BLOCK_SET)


def _unblock(column: str) -> Sql:
    return _bumping(
        _updating(
            "SET state = 'available', updated_at = now()",
            f"u.showtime_id = :showtime_id AND u.{column} = ANY(:keys) AND u.state = 'blocked'",
            "u.id, u.seat_id",
        ),
        "SELECT id, seat_id FROM changed",
    )


UNBLOCK_SEATS = _unblock("seat_id")
UNBLOCK_UNITS = _unblock("id")

# General admission: any N claimable places of the section, skipping rows other buyers hold
# locks on, so concurrent buyers take different rows instead of queueing.
CLAIM_ANY = _any(_HOLD_SET)

# Best available: all of a chosen block or nothing, skipping locked rows instead of waiting.
_CLAIM_BLOCK = _bumping(
    f"""
    UPDATE inventory_units u {_HOLD_SET}
      FROM (WITH c AS (SELECT u.id FROM inventory_units u
                        WHERE u.showtime_id = :showtime_id AND u.id = ANY(:keys)
                          AND {CLAIMABLE}
                        FOR UPDATE SKIP LOCKED)
            SELECT c.id FROM c WHERE (SELECT count(*) FROM c) = :quantity) c
     WHERE u.id = c.id
    RETURNING u.id
    """  # noqa: S608
)

_FREE_SET = (
    "SET state = 'available', hold_id = NULL, held_until = NULL, booking_id = NULL, "
    "updated_at = now()"
)


def _freeing(where: str) -> Sql:
    """Put the units matching `where` back on sale."""
    return _bumping(_updating(_FREE_SET, where))


# Units a claim could take (held, its time may have passed) of the holds and bookings a
# transaction is about to free, locked in one order before any of them is freed: see
# `ClaimRepository.lock_claimable`.
_LOCK_CLAIMABLE = Sql("""
    SELECT u.id FROM inventory_units u
     WHERE u.state = 'held'
       AND ((u.hold_id = ANY(:hold_ids) AND u.booking_id IS NULL)
            OR u.booking_id = ANY(:booking_ids))
     ORDER BY u.id
       FOR NO KEY UPDATE
""")


_HOLDS_UNITS = "u.hold_id = :hold_id AND u.state = 'held' AND u.booking_id IS NULL"
_RELEASE_HOLD = _freeing(_HOLDS_UNITS)

_EXTEND_HOLD = _bumping(
    _updating(
        "SET held_until = :held_until, updated_at = now()",
        "u.hold_id = :hold_id AND u.state = 'held'",
    )
)

_ATTACH = _updating(
    "SET booking_id = :booking_id, held_until = :held_until, updated_at = now()",
    "u.hold_id = :hold_id AND u.state = 'held' AND u.held_until >= now()",
    "u.id, u.section_id, u.seat_id, u.showtime_id",
)
ATTACH_BOOKING = _bumping(_ATTACH)

ATTACH_BOOKING_PRICED = _bumping(
    _ATTACH,
    f"""
    SELECT c.id, c.section_id, c.seat_id, {UNIT_LABEL} AS label,
           LEAST(pt.price_minor, COALESCE(
               (SELECT ch.previous_price_minor FROM price_tier_changes ch
                 WHERE ch.price_tier_id = pt.id
                   AND ch.changed_at > (SELECT h.created_at FROM holds h WHERE h.id = :hold_id)
                 ORDER BY ch.changed_at LIMIT 1),
               pt.price_minor)) AS price_minor,
           pt.currency
      FROM changed c
      JOIN sections sec ON sec.id = c.section_id
      LEFT JOIN seats s ON s.id = c.seat_id
      LEFT JOIN price_tiers pt ON pt.showtime_id = c.showtime_id AND pt.section_id = c.section_id
     ORDER BY c.id
    """,  # noqa: S608 (constants only)
)
"""Attach a live hold's units to a booking and answer each with its label and tier price:
the price when the hold was placed (the one before the first change since), or the current
one if lower. A buyer never pays more than the price they held at."""

# A late confirm is accepted while the units are still this booking's (not claimed since).
_SELL_BOOKING = _bumping(
    _updating(
        "SET state = 'sold', held_until = NULL, updated_at = now()",
        "u.booking_id = :booking_id AND u.hold_id = :hold_id AND u.state = 'held'",
    )
)

_BOOKINGS_UNITS = (
    "u.booking_id = :booking_id AND u.hold_id = :hold_id AND u.state IN ('held', 'sold')"
)
_FREE_BOOKING = _freeing(_BOOKINGS_UNITS)
# Some of a booking's units (refunded tickets) back on sale.
_FREE_BOOKING_UNITS = _freeing(_BOOKINGS_UNITS + " AND u.id = ANY(:unit_ids)")


def random_shard() -> int:
    """The version shard a statement bumps: spread so buyers don't queue on one row."""
    return random.randrange(VERSION_SHARDS)  # noqa: S311


_SHARD_KEY = "boxoffice.version_shard"


def transaction_shard(db: Db) -> int:
    """The version shard every stock change of `db`'s transaction bumps: drawn once, then
    kept. A transaction that changes stock several times (a one-call booking claims, moves
    and sells; the sweeper releases many holds) then locks one version row of a showtime,
    never two in an order another transaction could reverse: with a shard drawn per
    statement, racing one-call bookings deadlocked (`TestOneCallBookingRace`)."""
    tx = of(db)
    info = tx.info if tx is not None else db.info
    shard = info.get(_SHARD_KEY)
    if shard is None:
        shard = info[_SHARD_KEY] = random_shard()
    return int(shard)


_VERSION = Sql(
    "SELECT COALESCE(sum(version), 0) FROM inventory_versions WHERE showtime_id = :showtime_id"
)


class ClaimRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def _ids(self, sql: Sql, params: dict[str, Any]) -> list[int]:
        params = {**params, "shard": transaction_shard(self.db)}
        return [int(r[0]) for r in await driver.fetch(self.db, sql, params)]

    async def _keyed(self, sql: Sql, params: dict[str, Any]) -> list[Keyed]:
        params = {**params, "shard": transaction_shard(self.db)}
        rows = await driver.fetch(self.db, sql, params)
        return [(int(r[0]), r[1], bool(r[2]), bool(r[3])) for r in rows]

    async def claim_explicit(
        self,
        showtime_id: uuid.UUID,
        hold_id: uuid.UUID,
        held_until: datetime,
        *,
        unit_ids: Sequence[int] = (),
        seat_ids: Sequence[int] = (),
    ) -> list[Keyed]:
        """(unit id, seat id, changed, free) rows: see `_explicit`."""
        statement, keys = (
            (CLAIM_SEATS, list(seat_ids)) if seat_ids else (CLAIM_UNITS, list(unit_ids))
        )
        return await self._keyed(
            statement,
            {
                "showtime_id": showtime_id,
                "hold_id": hold_id,
                "held_until": held_until,
                "keys": keys,
                "quantity": len(set(keys)),
            },
        )

    async def block_explicit(
        self, showtime_id: uuid.UUID, *, unit_ids: Sequence[int] = (), seat_ids: Sequence[int] = ()
    ) -> list[Keyed]:
        """(unit id, seat id, changed, free) rows: see `_explicit`."""
        statement, keys = (
            (BLOCK_SEATS, list(seat_ids)) if seat_ids else (BLOCK_UNITS, list(unit_ids))
        )
        return await self._keyed(
            statement, {"showtime_id": showtime_id, "keys": keys, "quantity": len(set(keys))}
        )

    async def block_any(
        self, showtime_id: uuid.UUID, section_id: uuid.UUID, quantity: int
    ) -> list[int]:
        return await self._ids(
            BLOCK_ANY, {"showtime_id": showtime_id, "section_id": section_id, "quantity": quantity}
        )

    async def unblock(
        self, showtime_id: uuid.UUID, *, unit_ids: Sequence[int] = (), seat_ids: Sequence[int] = ()
    ) -> list[tuple[int, int | None]]:
        """(unit id, seat id) of the units put back on sale."""
        statement, keys = (
            (UNBLOCK_SEATS, list(seat_ids)) if seat_ids else (UNBLOCK_UNITS, list(unit_ids))
        )
        params = {"showtime_id": showtime_id, "keys": keys, "shard": transaction_shard(self.db)}
        rows = await driver.fetch(self.db, statement, params)
        return [(int(r[0]), r[1]) for r in rows]

    async def claim_any(
        self,
        showtime_id: uuid.UUID,
        section_id: uuid.UUID,
        quantity: int,
        hold_id: uuid.UUID,
        held_until: datetime,
    ) -> list[int]:
        return await self._ids(
            CLAIM_ANY,
            {
                "showtime_id": showtime_id,
                "section_id": section_id,
                "quantity": quantity,
                "hold_id": hold_id,
                "held_until": held_until,
            },
        )

    async def claim_block(
        self,
        showtime_id: uuid.UUID,
        unit_ids: Sequence[int],
        hold_id: uuid.UUID,
        held_until: datetime,
    ) -> list[int]:
        return await self._ids(
            _CLAIM_BLOCK,
            {
                "showtime_id": showtime_id,
                "keys": list(unit_ids),
                "quantity": len(unit_ids),
                "hold_id": hold_id,
                "held_until": held_until,
            },
        )

    async def release_hold(self, showtime_id: uuid.UUID, hold_id: uuid.UUID) -> list[int]:
        return await self._ids(_RELEASE_HOLD, {"showtime_id": showtime_id, "hold_id": hold_id})

    async def extend_hold(
        self, showtime_id: uuid.UUID, hold_id: uuid.UUID, held_until: datetime
    ) -> list[int]:
        return await self._ids(
            _EXTEND_HOLD, {"showtime_id": showtime_id, "hold_id": hold_id, "held_until": held_until}
        )

    async def attach_booking(
        self,
        showtime_id: uuid.UUID,
        hold_id: uuid.UUID,
        booking_id: uuid.UUID,
        held_until: datetime,
    ) -> list[int]:
        return await self._ids(
            ATTACH_BOOKING,
            {
                "showtime_id": showtime_id,
                "hold_id": hold_id,
                "booking_id": booking_id,
                "held_until": held_until,
            },
        )

    async def attach_booking_priced(
        self,
        showtime_id: uuid.UUID,
        hold_id: uuid.UUID,
        booking_id: uuid.UUID,
        held_until: datetime,
    ) -> list[tuple[Any, ...]]:
        params = {
            "showtime_id": showtime_id,
            "hold_id": hold_id,
            "booking_id": booking_id,
            "held_until": held_until,
            "shard": transaction_shard(self.db),
        }
        return [tuple(r) for r in await driver.fetch(self.db, ATTACH_BOOKING_PRICED, params)]

    async def sell_booking(
        self, showtime_id: uuid.UUID, hold_id: uuid.UUID, booking_id: uuid.UUID
    ) -> list[int]:
        return await self._ids(
            _SELL_BOOKING,
            {"showtime_id": showtime_id, "hold_id": hold_id, "booking_id": booking_id},
        )

    async def free_booking(
        self,
        showtime_id: uuid.UUID,
        hold_id: uuid.UUID,
        booking_id: uuid.UUID,
        unit_ids: Sequence[int] | None = None,
    ) -> list[int]:
        params: dict[str, Any] = {
            "showtime_id": showtime_id,
            "hold_id": hold_id,
            "booking_id": booking_id,
        }
        if unit_ids is None:
            return await self._ids(_FREE_BOOKING, params)
        return await self._ids(_FREE_BOOKING_UNITS, {**params, "unit_ids": list(unit_ids)})

    async def lock_claimable(
        self, *, hold_ids: Sequence[uuid.UUID] = (), booking_ids: Sequence[uuid.UUID] = ()
    ) -> None:
        """Lock, in unit order, the held units of these holds (not yet booked) and bookings,
        waiting for any a buyer is claiming right now (lazy expiry).

        For a transaction that frees many holds or bookings (the sweeper, settling lapsed
        waitlist offers, cancelling a showtime). Each free bumps a version row and keeps it
        to the end of the transaction; a later free waiting there for units a buyer has
        locked, while the buyer waits for that row, deadlocks. Taking every unit first,
        before any version row, means waiting only for buyers who wait for nothing of ours.
        A unit a buyer took meanwhile is no longer under these holds or bookings, so it is
        neither locked nor freed."""
        await driver.execute(
            self.db,
            _LOCK_CLAIMABLE,
            {"hold_ids": list(hold_ids), "booking_ids": list(booking_ids)},
        )

    async def showtime_version(self, showtime_id: uuid.UUID) -> int:
        row = await driver.fetchrow(self.db, _VERSION, {"showtime_id": showtime_id})
        return int(row[0])
