"""Showtimes ready to sell, for booking tests."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from httpx import AsyncClient, Response
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import Event, Showtime
from boxoffice.inventory.models import InventoryUnit
from boxoffice.venue.models import Seat, Section, SectionKind
from tests.factories import create_event, create_showtime, create_user, create_venue


@dataclass
class World:
    organizer: User
    event: Event
    showtime: Showtime
    reserved: Section | None
    floor: Section | None
    seats: list[Seat]
    """Reserved seats, ordered by row then number."""


async def create_world(
    session: AsyncSession,
    *,
    rows: int = 5,
    seats_per_row: int = 10,
    ga_capacity: int = 0,
    price_minor: int = 2500,
    hold_ttl_seconds: int = 600,
    max_tickets_per_booking: int = 10,
    max_tickets_per_buyer: int | None = None,
) -> World:
    organizer = await create_user(session, role=Role.organizer)
    venue = await create_venue(
        session,
        organizer=organizer,
        rows=rows,
        seats_per_row=seats_per_row,
        ga_capacity=ga_capacity,
    )
    event = await create_event(session, organizer=organizer)
    event.hold_ttl_seconds = hold_ttl_seconds
    event.max_tickets_per_booking = max_tickets_per_booking
    event.max_tickets_per_buyer = max_tickets_per_buyer
    showtime = await create_showtime(session, event=event, venue=venue, price_minor=price_minor)
    sections = (await session.scalars(select(Section).where(Section.venue_id == venue.id))).all()
    reserved = next((s for s in sections if s.kind is SectionKind.reserved), None)
    floor = next((s for s in sections if s.kind is SectionKind.general_admission), None)
    seats = []
    if reserved is not None:
        seats = list(
            (
                await session.scalars(
                    select(Seat)
                    .where(Seat.section_id == reserved.id)
                    .order_by(Seat.row_index, Seat.number)
                )
            ).all()
        )
    await session.flush()
    return World(organizer, event, showtime, reserved, floor, seats)


async def committed_world(
    maker: async_sessionmaker[AsyncSession], buyers: int, **world: Any
) -> tuple[World, list[User], User]:
    """A world, `buyers` buyers and an admin, committed (for tests that race requests)."""
    async with maker() as session:
        built = await create_world(session, **world)
        users = [await create_user(session) for _ in range(buyers)]
        admin = await create_user(session, role=Role.admin)
        await session.commit()
    return built, users, admin


async def unit_states(session: AsyncSession, showtime: Showtime) -> dict[str, int]:
    rows = (
        await session.execute(
            select(InventoryUnit.state).where(InventoryUnit.showtime_id == showtime.id)
        )
    ).scalars()
    counts: dict[str, int] = {}
    for state in rows:
        counts[state.value] = counts.get(state.value, 0) + 1
    return counts


async def _one_call_booking(
    client: AsyncClient,
    world: World,
    buyer: User,
    auth_headers: Callable[[User], dict[str, str]],
    quantity: int,
    status: str,
) -> dict[str, Any]:
    response = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": quantity},
        headers=auth_headers(buyer),
    )
    assert response.status_code == 201, response.json()
    booking: dict[str, Any] = response.json()
    assert booking["status"] == status
    return booking


async def free_booking(
    client: AsyncClient,
    world: World,
    buyer: User,
    auth_headers: Callable[[User], dict[str, str]],
    quantity: int = 2,
) -> dict[str, Any]:
    """A one-call booking at price 0: it confirms itself, so its tickets are issued."""
    return await _one_call_booking(client, world, buyer, auth_headers, quantity, "confirmed")


async def pending_booking(
    client: AsyncClient,
    world: World,
    buyer: User,
    auth_headers: Callable[[User], dict[str, str]],
    quantity: int = 1,
) -> dict[str, Any]:
    """A one-call booking of a priced showtime: it waits for payment, its tickets pending."""
    return await _one_call_booking(client, world, buyer, auth_headers, quantity, "pending_payment")


T = TypeVar("T")


async def behind_a_locked_ticket(
    maker: async_sessionmaker[AsyncSession],
    ticket_id: Any,
    *calls: Awaitable[T],
    seconds: float = 1.0,
) -> list[T]:
    """Run `calls` at once while another transaction holds the ticket's row lock, then let
    it go: every call gets as far as that row and waits there, so they race for real."""
    async with maker() as blocker:
        await blocker.execute(
            text("SELECT 1 FROM tickets WHERE id = :id FOR UPDATE"), {"id": ticket_id}
        )
        racing = asyncio.gather(*calls)
        await asyncio.sleep(seconds)
        await blocker.commit()
    return list(await racing)


@dataclass
class Sold:
    """A committed free showtime, buyers with one confirmed booking each, and other users."""

    world: World
    buyers: list[User]
    bookings: list[dict[str, Any]]
    others: list[User]


async def committed_sales(
    maker: async_sessionmaker[AsyncSession],
    client: AsyncClient,
    auth_headers: Callable[[User], dict[str, str]],
    buyers: int,
    *,
    quantity: int = 1,
    others: int = 0,
    **world: Any,
) -> Sold:
    """`buyers` buyers who each booked `quantity` places of a free showtime (committed)."""
    built, users, _ = await committed_world(maker, buyers + others, price_minor=0, **world)
    bookings = [
        await free_booking(client, built, buyer, auth_headers, quantity=quantity)
        for buyer in users[:buyers]
    ]
    return Sold(built, users[:buyers], bookings, users[buyers:])


async def in_pairs(*pairs: tuple[Awaitable[T], Awaitable[T]]) -> list[tuple[T, T]]:
    """Every call of every pair at once; the answers paired as the calls were."""
    flat = await asyncio.gather(*(call for pair in pairs for call in pair))
    return list(zip(flat[::2], flat[1::2], strict=True))


async def ticket_states(maker: async_sessionmaker[AsyncSession], booking_id: Any) -> list[Any]:
    """Each ticket of a booking as committed: the booking's status, the ticket's status,
    admission and holder, and its unit's state."""
    async with maker() as session:
        return list(
            (
                await session.execute(
                    text(
                        "SELECT b.status, t.status AS ticket_status, t.checked_in_at,"
                        " t.holder_id, t.code_version, u.state"
                        " FROM bookings b JOIN tickets t ON t.booking_id = b.id"
                        " JOIN inventory_units u ON u.id = t.unit_id WHERE b.id = :id"
                        " ORDER BY t.id"
                    ),
                    {"id": booking_id},
                )
            ).all()
        )


async def post_all(
    client: AsyncClient,
    users: list[User],
    auth_headers: Callable[[User], dict[str, str]],
    bodies: list[dict[str, Any]],
    path: str = "/api/bookings/hold-seats",
    *,
    gap: float = 0.0,
) -> list[Response]:
    """Each user posts their body to `path` (a hold, by default), all at once, or one
    every `gap` seconds without waiting for the answers."""
    posts = []
    for user, body in zip(users, bodies, strict=True):
        posts.append(asyncio.create_task(client.post(path, json=body, headers=auth_headers(user))))
        if gap:
            await asyncio.sleep(gap)
    return list(await asyncio.gather(*posts))


STOCK_INVARIANTS = {
    # (every query counts the rows that break its rule)
    "held units carry their hold and expiry": """
        SELECT count(*) FROM inventory_units
         WHERE state = 'held' AND (hold_id IS NULL OR held_until IS NULL)""",
    "available and blocked units belong to nobody": """
        SELECT count(*) FROM inventory_units
         WHERE state IN ('available', 'blocked')
           AND (hold_id IS NOT NULL OR booking_id IS NOT NULL OR held_until IS NOT NULL)""",
    "a sold unit has exactly one issued ticket of a confirmed booking": """
        SELECT count(*) FROM inventory_units u
         WHERE u.state = 'sold' AND (
               SELECT count(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id
                WHERE t.unit_id = u.id AND t.status = 'issued' AND b.status = 'confirmed'
                  AND b.id = u.booking_id) <> 1""",
    "an issued ticket's unit is sold to its booking": """
        SELECT count(*) FROM tickets t JOIN inventory_units u ON u.id = t.unit_id
         WHERE t.status = 'issued' AND (u.state <> 'sold' OR u.booking_id <> t.booking_id)""",
    "a live hold has all its units": """
        SELECT count(*) FROM holds h
         WHERE h.status = 'active' AND h.expires_at > now()
           AND (SELECT count(*) FROM inventory_units u
                 WHERE u.hold_id = h.id AND u.state = 'held' AND u.booking_id IS NULL)
               <> h.quantity""",
    "a live pending booking has all its units": """
        SELECT count(*) FROM bookings b
         WHERE b.status = 'pending_payment' AND b.expires_at > now()
           AND (SELECT count(*) FROM inventory_units u
                 WHERE u.booking_id = b.id AND u.state = 'held') <> b.quantity""",
    "ended bookings have only void tickets": """
        SELECT count(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id
         WHERE b.status IN ('cancelled', 'expired') AND t.status <> 'void'""",
    # Whatever ends a hold or a booking frees its units in the same transaction, so no unit
    # is left held under one that has ended (where no sweep would look for it again).
    "a held unit's hold is active": """
        SELECT count(*) FROM inventory_units u
         WHERE u.state = 'held' AND u.booking_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.id = u.hold_id AND h.status = 'active')""",
    "a held unit's booking is pending": """
        SELECT count(*) FROM inventory_units u
         WHERE u.state = 'held' AND u.booking_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM bookings b
                            WHERE b.id = u.booking_id AND b.status = 'pending_payment')""",
}


async def check_stock(session: AsyncSession) -> None:
    """Assert every rule of `STOCK_INVARIANTS`, naming the one broken."""
    for name, sql in STOCK_INVARIANTS.items():
        broken = (await session.execute(text(sql))).scalar_one()
        assert broken == 0, name


async def held_units(
    maker: async_sessionmaker[AsyncSession], world: World, *, live_only: bool = False
) -> dict[int, str]:
    """Unit id -> hold id of the showtime's held units (`live_only`: holds not lapsed)."""
    async with maker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT id, hold_id FROM inventory_units"
                    " WHERE showtime_id = :s AND state = 'held'"
                    " AND (NOT :live OR held_until >= now())"
                ),
                {"s": world.showtime.id, "live": live_only},
            )
        ).all()
    return {int(r[0]): str(r[1]) for r in rows}


async def check_winners(
    maker: async_sessionmaker[AsyncSession],
    world: World,
    responses: list[Response],
    refusals: set[str] | None = None,
    *,
    cancelled: bool = False,
) -> dict[int, str]:
    """After racing hold requests: every refusal carries one of the `refusals` codes (any,
    if None), no unit went to two winners, and the showtime's held units are exactly the
    winners' (none, if the showtime was `cancelled` since: its cancel released the winners'
    holds). Answers unit id -> hold id of what was won."""
    if refusals is not None:
        codes = {r.json()["code"] for r in responses if r.status_code != 201}
        assert codes <= refusals, codes
    wins = [r.json() for r in responses if r.status_code == 201]
    won = {u["unit_id"]: w["id"] for w in wins for u in w["units"]}
    assert len(won) == sum(len(w["units"]) for w in wins), "a unit is in two winning holds"
    assert await held_units(maker, world) == ({} if cancelled else won)
    return won
