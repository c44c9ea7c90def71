"""The request-cost benchmark's workloads at a small load, through the app's ASGI interface
as the benchmark drives it (the benchmark itself is not part of the suite): each request
gets the answer it should, so the CPU it reports is that of real work. The sale sells
nothing twice."""

from bench.flash_sale.seed import oversold, seed
from bench.request_cost.__main__ import _asgi_client, _workload
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role
from boxoffice.auth.security import create_access_token
from boxoffice.config import Settings
from boxoffice.db.engine import plain_url


class TestRequestCostWorkloads:
    async def test_each_workload_answers_as_it_should(
        self,
        settings: Settings,
        committing_app: FastAPI,
        committed: async_sessionmaker[AsyncSession],
    ) -> None:
        assert settings.database.url
        dsn = plain_url(settings.database.url)
        data = await seed(dsn, buyers=8)
        tokens = [
            create_access_token(
                settings.auth, user_id=u, role=Role.buyer, token_version=0, ttl=None
            ).encode()
            for u in data.buyer_ids
        ]
        call = _asgi_client(committing_app)

        for name in ("health", "me"):
            result = await _workload(call, name, data, tokens, clients=4, requests=20)
            assert result["statuses"] == {"200": 20}
            assert result["cpu_ms_per_request"] > 0

        sale = await _workload(call, "sale", data, tokens, clients=8, requests=60)
        statuses = sale["statuses"]
        assert set(statuses) <= {"201", "409", "create 201"}
        assert statuses["201"] == statuses["create 201"] > 0
        check = await oversold(dsn, data.showtime_id)
        assert check["units_in_two_bookings"] == 0
        assert check["bookings_missing_units"] == 0
        assert check["units_booked"] > 0
