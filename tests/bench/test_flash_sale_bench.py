"""The flash-sale benchmark's direct runs at a small load (the benchmark itself is not part
of the suite): they drive the API's own sale statements, race for real, and sell nothing
twice. Guards the bench against drifting from the statements it claims to measure."""

import time

from bench.flash_sale import direct
from bench.flash_sale.__main__ import CpuMark, _per_hold
from bench.flash_sale.seed import ROWS, SEATS_PER_ROW, oversold, presell, reset_stock, seed
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.config import Settings
from boxoffice.db.engine import plain_url


class TestFlashSaleDirectRuns:
    async def test_ceiling_and_baseline_hold_book_and_never_oversell(
        self, settings: Settings, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        assert settings.database.url
        dsn = plain_url(settings.database.url)
        data = await seed(dsn, buyers=40)
        for baseline in (False, True):
            await reset_stock(dsn, data.showtime_id)
            result = await direct.run(
                dsn, data, buyers=40, pool_size=4, seconds=1.0, baseline=baseline
            )
            check = await oversold(dsn, data.showtime_id)
            assert result["holds_per_s"] > 0
            assert result["units_booked"] > 0
            assert check["units_in_two_bookings"] == 0
            assert check["bookings_missing_units"] == 0
            assert check["units_booked"] == result["units_booked"]

    async def test_presell_takes_most_of_the_front_rows_and_nothing_behind(
        self, settings: Settings, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        assert settings.database.url
        dsn = plain_url(settings.database.url)
        data = await seed(dsn, buyers=1)

        taken = await presell(dsn, data, rows_pct=10)

        async with committed() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT s.row_index < :front AS front, count(*) FROM inventory_units u"
                        " JOIN seats s ON s.id = u.seat_id WHERE u.showtime_id = :showtime"
                        " AND u.state = 'blocked' GROUP BY 1"
                    ),
                    {"front": ROWS // 10, "showtime": data.showtime_id},
                )
            ).all()
        front = ROWS // 10 * SEATS_PER_ROW
        assert dict(rows) == {True: taken}
        assert 0.95 * front < taken < front


class TestCpuSplit:
    def test_own_work_shows_in_the_process_and_the_machine(self) -> None:
        before = CpuMark.now()
        deadline = time.process_time() + 0.2
        while time.process_time() < deadline:
            pass
        spent = CpuMark.now().since(before)
        # Both counters tick in hundredths of a second (hence the slack).
        assert spent.own >= 0.15
        assert spent.busy >= spent.own - 0.05  # the machine saw it too
        assert spent.children == 0
        assert 0 < spent.busy_pct <= 100

    def test_split_is_per_hold_and_sums_to_the_machine(self) -> None:
        split = _per_hold(
            {"holds_per_s": 100.0, "seconds": 10.0}, server=3.0, database_and_rest=2.0
        )
        assert split == {"server": 3.0, "database_and_rest": 2.0, "machine": 5.0}
        # A part measured below zero (the machine's counters and a process's disagree by a
        # tick) counts as nothing rather than lowering the total.
        assert _per_hold({"holds_per_s": 1.0, "seconds": 1.0}, a=0.001, b=-0.0005) == {
            "a": 1.0,
            "b": 0.0,
            "machine": 1.0,
        }
