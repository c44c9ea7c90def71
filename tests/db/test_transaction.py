"""`Tx`, a request's transaction: plain statements and the ORM session, whichever comes
first, share one transaction; nothing is checked out until something is sent; and the sale's
path never makes an ORM session (what makes it cheaper than a session per request)."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.booking import holds
from boxoffice.booking import service as booking_service
from boxoffice.booking.schemas import HoldCreate
from boxoffice.config import Settings
from boxoffice.db import driver
from boxoffice.db.driver import Sql
from boxoffice.db.transaction import Tx
from tests.booking.factories import committed_world
from tests.factories import configure, create_user

_INSERT = Sql(
    "INSERT INTO idempotency_keys (scope, key, request_hash, state)"
    " VALUES ('tx-test', :key, 'h', 'in_progress')"
)
_ORM_INSERT = text(
    "INSERT INTO idempotency_keys (scope, key, request_hash, state)"
    " VALUES ('tx-test', :key, 'h', 'in_progress')"
)


async def _keys(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.scalars(
            text("SELECT key FROM idempotency_keys WHERE scope = 'tx-test' ORDER BY key")
        )
        return list(rows)


@pytest.fixture
async def tx(engine: AsyncEngine, committed: async_sessionmaker[AsyncSession]) -> AsyncIterator[Tx]:
    transaction = Tx(engine)
    try:
        yield transaction
    finally:
        await transaction.close()


class TestOneTransaction:
    async def test_nothing_is_checked_out_before_the_first_statement(
        self, engine: AsyncEngine, tx: Tx
    ) -> None:
        checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
        assert tx.raw is None
        assert not tx.has_session
        await tx.commit()
        assert engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]

    async def test_plain_first_then_the_session_joins_and_both_commit(
        self, engine: AsyncEngine, tx: Tx
    ) -> None:
        await driver.execute(tx, _INSERT, {"key": "plain"})
        assert not tx.has_session
        # The session made now sees the plain statement's uncommitted row: one transaction.
        seen = await tx.session.scalar(
            text("SELECT count(*) FROM idempotency_keys WHERE scope = 'tx-test'")
        )
        assert seen == 1
        await tx.session.execute(_ORM_INSERT, {"key": "orm"})
        await driver.execute(tx, _INSERT, {"key": "plain-again"})
        assert await _keys(engine) == []  # nothing visible outside before the commit
        await tx.commit()
        assert await _keys(engine) == ["orm", "plain", "plain-again"]

    async def test_session_first_then_plain_statements_run_in_its_transaction(
        self, engine: AsyncEngine, tx: Tx
    ) -> None:
        await tx.session.execute(_ORM_INSERT, {"key": "orm"})
        await driver.execute(tx, _INSERT, {"key": "plain"})
        assert tx.raw is None  # no second connection: the session's is used
        await tx.rollback()
        assert await _keys(engine) == []

    async def test_a_rollback_after_both_undoes_both(self, engine: AsyncEngine, tx: Tx) -> None:
        await driver.execute(tx, _INSERT, {"key": "plain"})
        await tx.session.execute(_ORM_INSERT, {"key": "orm"})
        await tx.rollback()
        assert await _keys(engine) == []

    async def test_a_savepoint_of_the_joined_session_keeps_the_rest(
        self, engine: AsyncEngine, tx: Tx
    ) -> None:
        await driver.execute(tx, _INSERT, {"key": "kept"})
        savepoint = await tx.session.begin_nested()
        await tx.session.execute(_ORM_INSERT, {"key": "undone"})
        await savepoint.rollback()
        await tx.commit()
        assert await _keys(engine) == ["kept"]

    async def test_an_adopted_instance_joins_the_session_when_it_is_made(
        self, engine: AsyncEngine, tx: Tx, committed: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed() as session:
            user = await create_user(session)
            await session.commit()
            session.expunge(user)
        tx.adopt(user)
        assert tx.present(User, user.id) is user
        assert user in tx.session
        user.full_name = "Renamed"
        await tx.commit()
        async with engine.connect() as connection:
            name = await connection.scalar(
                text("SELECT full_name FROM users WHERE id = :id"), {"id": user.id}
            )
        assert name == "Renamed"


class TestTheSaleMakesNoSession:
    async def test_a_hold_and_its_booking_send_plain_statements_only(
        self,
        engine: AsyncEngine,
        settings: Settings,
        committed: async_sessionmaker[AsyncSession],
    ) -> None:
        world, (buyer,), _ = await committed_world(committed, 1, rows=1, seats_per_row=4)
        showtime, seats = world.showtime, world.seats
        hold_tx = Tx(engine)
        try:
            hold = await holds.place_hold(
                hold_tx,
                buyer,
                HoldCreate(showtime_id=showtime.id, seat_ids=[seats[0].id, seats[1].id]),
                settings.booking,
            )
            await holds.describe(hold_tx, [hold])
            assert not hold_tx.has_session
            await hold_tx.commit()
        finally:
            await hold_tx.close()
        book_tx = Tx(engine)
        try:
            booking = await booking_service.create_from_hold(book_tx, buyer, hold.id, settings)
            assert not book_tx.has_session
            await book_tx.commit()
        finally:
            await book_tx.close()
        assert booking.quantity == 2
        async with committed() as session:
            units = await session.scalar(
                text("SELECT count(*) FROM inventory_units WHERE booking_id = :id"),
                {"id": booking.id},
            )
        assert units == 2


async def test_a_cached_seat_map_read_checks_out_no_connection(
    committing_app: FastAPI,
    committing_client: AsyncClient,
    engine: AsyncEngine,
    settings: Settings,
    committed: async_sessionmaker[AsyncSession],
) -> None:
    # Fresh for a minute: the second read is answered from the cache however slow the test.
    configure(committing_app, settings, "booking", seat_map_refresh_ms=60_000)
    world, _, _ = await committed_world(committed, 0, rows=1, seats_per_row=4)
    path = f"/api/showtimes/{world.showtime.id}/seats"
    assert (await committing_client.get(path)).status_code == 200  # loads the cache
    connects: list[object] = []

    def count(*_: object) -> None:
        connects.append(object())

    event.listen(engine.sync_engine, "engine_connect", count)
    try:
        assert (await committing_client.get(path)).status_code == 200
    finally:
        event.remove(engine.sync_engine, "engine_connect", count)
    assert connects == []
