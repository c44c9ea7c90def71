"""Sale statements keep their index when the statistics are stale.

Statistics taken before a sale opens say nothing is held; the planner sees that for the
first minutes of the sale, while thousands of units are taken. A statement that finds a
hold's units must then still go through the index on hold_id: it once read the whole
partial index of taken units instead, a cost that grew with every unit sold (migration 0013).
"""

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.booking.repository import HOLD_UNITS
from boxoffice.db.driver import driver
from tests.booking.factories import create_world


def _index_names(plan: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(plan, dict):
        if plan.get("Relation Name") == "inventory_units" and "Index Name" in plan:
            names.add(plan["Index Name"])
        for value in plan.values():
            names |= _index_names(value)
    elif isinstance(plan, list):
        for value in plan:
            names |= _index_names(value)
    return names


class TestStalePlans:
    async def test_a_holds_units_are_found_through_hold_id(self, session: AsyncSession) -> None:
        world = await create_world(session, rows=20, seats_per_row=50, ga_capacity=500)
        await session.execute(text("ANALYZE inventory_units"))  # nothing taken yet
        held = await session.execute(
            text(
                "UPDATE inventory_units SET state = 'held', hold_id = gen_random_uuid(),"
                " held_until = now() + interval '10 minutes'"
                " WHERE showtime_id = :id AND id % 3 = 0 RETURNING hold_id"
            ),
            {"id": world.showtime.id},
        )
        hold_id: uuid.UUID = held.scalars().first()  # type: ignore[assignment]
        # Only index scans, so the question is which index, not whether one.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_bitmapscan = off"))
        conn = await driver(session)
        answer = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) " + HOLD_UNITS.text, *HOLD_UNITS.args({"hold_ids": [hold_id]})
        )
        plan = json.loads(answer) if isinstance(answer, str) else answer
        assert _index_names(plan) == {"ix_inventory_units_hold_id"}
        assert (
            len(await conn.fetch(HOLD_UNITS.text, *HOLD_UNITS.args({"hold_ids": [hold_id]}))) == 1
        )
