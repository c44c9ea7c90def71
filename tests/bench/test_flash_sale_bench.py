"""The flash-sale benchmark's direct runs at a small load (the benchmark itself is not part
of the suite): they drive the API's own sale statements, race for real, and sell nothing
twice. Guards the bench against drifting from the statements it claims to measure."""

from bench.flash_sale import direct
from bench.flash_sale.seed import oversold, reset_stock, seed
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
