"""Random hold / release / expire / book / confirm / cancel / sweep sequences; the stock
invariants are checked after every step."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from boxoffice.auth.models import Role
from boxoffice.booking import holds, service
from boxoffice.booking.schemas import HoldCreate
from boxoffice.config import Settings
from boxoffice.kit.errors import BoxofficeError
from tests.booking.factories import check_stock, create_world
from tests.factories import create_user

SEATS = 8

operation = st.one_of(
    st.tuples(
        st.just("hold_seats"),
        st.integers(0, 2),
        st.lists(st.integers(0, SEATS - 1), min_size=1, max_size=3, unique=True),
    ),
    st.tuples(st.just("hold_best"), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("hold_floor"), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("release"), st.integers(0, 5), st.none()),
    st.tuples(st.just("expire"), st.integers(0, 5), st.none()),
    st.tuples(st.just("book"), st.integers(0, 5), st.none()),
    st.tuples(st.just("confirm"), st.integers(0, 5), st.none()),
    st.tuples(st.just("cancel"), st.integers(0, 5), st.none()),
    st.tuples(st.just("sweep"), st.none(), st.none()),
)


async def _step(
    session: AsyncSession,
    world: Any,
    users: list[Any],
    admin: Any,
    state: dict[str, list[Any]],
    op: tuple[str, Any, Any],
    app_settings: Settings,
) -> None:
    kind, a, b = op
    showtime_id = world.showtime.id
    if kind == "hold_seats":
        data = HoldCreate(showtime_id=showtime_id, seat_ids=[world.seats[i].id for i in b])
        state["holds"].append(await holds.place_hold(session, users[a], data, app_settings.booking))
    elif kind == "hold_best":
        data = HoldCreate(showtime_id=showtime_id, quantity=b, section_id=world.reserved.id)
        state["holds"].append(await holds.place_hold(session, users[a], data, app_settings.booking))
    elif kind == "hold_floor":
        data = HoldCreate(showtime_id=showtime_id, quantity=b, section_id=world.floor.id)
        state["holds"].append(await holds.place_hold(session, users[a], data, app_settings.booking))
    elif kind == "sweep":
        await service.sweep(session)
    elif kind in {"release", "expire", "book"} and state["holds"]:
        hold = state["holds"][a % len(state["holds"])]
        owner = next(u for u in users if u.id == hold.user_id)
        if kind == "release":
            await holds.release_hold(session, owner, hold.id)
        elif kind == "expire":
            await session.execute(
                text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :id;"),
                {"id": hold.id},
            )
            await session.execute(
                text(
                    "UPDATE inventory_units SET held_until = now() - interval '1 second' "
                    "WHERE hold_id = :id AND state = 'held'"
                ),
                {"id": hold.id},
            )
            # Time passes for everything this hold became: units of a pending booking made
            # from it lapse only together with that booking's payment window.
            await session.execute(
                text(
                    "UPDATE bookings SET expires_at = now() - interval '1 second' "
                    "WHERE hold_id = :id AND status = 'pending_payment'"
                ),
                {"id": hold.id},
            )
        else:
            state["bookings"].append(
                await service.create_from_hold(session, owner, hold.id, app_settings)
            )
    elif kind in {"confirm", "cancel"} and state["bookings"]:
        booking = state["bookings"][a % len(state["bookings"])]
        if kind == "confirm":
            await service.confirm(session, booking.id, version=None, complimentary=True)
        else:
            owner = next(u for u in users if u.id == booking.user_id)
            await service.cancel(session, owner, booking.id, version=None)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=12))
async def test_stock_invariants_hold_after_every_step(
    engine: AsyncEngine, settings: Settings, operations: list[tuple[str, Any, Any]]
) -> None:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(bind=connection, expire_on_commit=False, autoflush=False)
        try:
            world = await create_world(session, rows=1, seats_per_row=SEATS, ga_capacity=4)
            users = [await create_user(session) for _ in range(3)]
            admin = await create_user(session, role=Role.admin)
            state: dict[str, list[Any]] = {"holds": [], "bookings": []}
            for op in operations:
                savepoint = await session.begin_nested()
                try:
                    await _step(session, world, users, admin, state, op, settings)
                except BoxofficeError:
                    await savepoint.rollback()
                else:
                    await savepoint.commit()
                await check_stock(session)
        finally:
            await session.close()
            await transaction.rollback()
