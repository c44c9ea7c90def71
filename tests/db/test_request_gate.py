"""The request gate: bounded sessions per process, first come first served, 503 on timeout."""

import asyncio

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from boxoffice.config import DatabaseSettings
from boxoffice.db.engine import RequestGate


def _gate(pool_size: int, timeout: float = 5.0) -> RequestGate:
    return RequestGate(
        DatabaseSettings(url=None, pool_size=pool_size, max_overflow=0, pool_timeout=timeout)
    )


class TestRequestGate:
    def test_a_quarter_of_the_pool_stays_outside(self) -> None:
        assert _gate(16).slots._value == 12
        assert _gate(1).slots._value == 1
        assert _gate(2).slots._value == 1

    async def test_waiters_are_admitted_in_arrival_order(self) -> None:
        gate = _gate(2)  # one slot
        order: list[int] = []
        release = asyncio.Event()

        async def request(index: int) -> None:
            async with gate:
                order.append(index)
                if index == 0:
                    await release.wait()

        first = asyncio.create_task(request(0))
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(request(i)) for i in range(1, 6)]
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, *waiters)
        assert order == [0, 1, 2, 3, 4, 5]

    async def test_a_full_gate_times_out_like_the_pool(self) -> None:
        gate = _gate(2, timeout=0.05)
        async with gate:
            with pytest.raises(PoolTimeoutError):
                async with gate:
                    pass
        async with gate:  # the slot came back
            pass
