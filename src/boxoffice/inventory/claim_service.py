"""Changing unit state: the only door through which holds and bookings touch stock."""

import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.db.transaction import Db
from boxoffice.inventory.best_available import pick_blocks, pick_scattered
from boxoffice.inventory.claim_repository import ClaimRepository, Keyed
from boxoffice.inventory.errors import SeatsUnavailable, SectionNotFound, SoldOut
from boxoffice.inventory.seat_map import SeatMapCache, SectionInfo
from boxoffice.kit.outbox import Topic, emit

CACHE = SeatMapCache()
"""The process's seat-map cache (see `seat_map`)."""

_BEST_AVAILABLE_ATTEMPTS = 12


async def sections(db: Db, showtime_id: uuid.UUID) -> list[SectionInfo]:
    """The showtime's sections (cached for good: a showtime's layout is fixed)."""
    return await CACHE.sections(db, showtime_id)


def find_section(sections: list[SectionInfo], section_id: uuid.UUID) -> SectionInfo:
    for section in sections:
        if section.id == str(section_id):
            return section
    raise SectionNotFound()


async def claim_units(
    db: Db,
    showtime_id: uuid.UUID,
    hold_id: uuid.UUID,
    held_until: datetime,
    *,
    unit_ids: Sequence[int] = (),
    seat_ids: Sequence[int] = (),
) -> list[int]:
    """Claim exactly these units (or seats) or nothing: 409 names the ones that were taken."""
    claimed = await ClaimRepository(db).claim_explicit(
        showtime_id, hold_id, held_until, unit_ids=unit_ids, seat_ids=seat_ids
    )
    return _all_or_explain(showtime_id, claimed, unit_ids, seat_ids)


async def block_units(
    db: Db,
    showtime_id: uuid.UUID,
    *,
    unit_ids: Sequence[int] = (),
    seat_ids: Sequence[int] = (),
) -> list[int]:
    """Take exactly these units (or seats) off sale, or none: 409 names the taken ones."""
    blocked = await ClaimRepository(db).block_explicit(
        showtime_id, unit_ids=unit_ids, seat_ids=seat_ids
    )
    return _all_or_explain(showtime_id, blocked, unit_ids, seat_ids)


async def block_general_admission(
    db: Db, showtime_id: uuid.UUID, section_id: uuid.UUID, quantity: int
) -> list[int]:
    """Take `quantity` free places of a general-admission section off sale, or none."""
    blocked = await ClaimRepository(db).block_any(showtime_id, section_id, quantity)
    return _enough(blocked, quantity, section_id)


async def unblock_units(
    db: Db,
    showtime_id: uuid.UUID,
    *,
    unit_ids: Sequence[int] = (),
    seat_ids: Sequence[int] = (),
) -> list[tuple[int, int | None]]:
    """Put blocked units (or seats) back on sale; ones not blocked are left as they are.
    Answers (unit id, seat id) of those freed."""
    return await ClaimRepository(db).unblock(showtime_id, unit_ids=unit_ids, seat_ids=seat_ids)


def _all_or_explain(
    showtime_id: uuid.UUID,
    named: list[Keyed],
    unit_ids: Sequence[int],
    seat_ids: Sequence[int],
) -> list[int]:
    """The units changed, if all were; else 409 naming the taken ones (and any key the
    showtime does not have), from the rows the claim answered in its own snapshot."""
    wanted = len(set(seat_ids or unit_ids))
    changed = [u for u, _, done, _ in named if done]
    if len(changed) == wanted:  # (the statement changes all or nothing)
        CACHE.note_claimed(showtime_id, changed)
        return changed
    taken = [{"unit_id": u, "seat_id": s} for u, s, _, free in named if not free]
    known_keys = {s for _, s, _, _ in named} if seat_ids else {u for u, _, _, _ in named}
    key = "seat_id" if seat_ids else "unit_id"
    taken += [{key: k, "missing": True} for k in sorted(set(seat_ids or unit_ids) - known_keys)]
    raise SeatsUnavailable(
        f"{len(taken)} of the {wanted} requested seats are not available",
        extra={"unavailable_seats": taken},
    )


async def claim_general_admission(
    db: Db,
    showtime_id: uuid.UUID,
    section_id: uuid.UUID,
    quantity: int,
    hold_id: uuid.UUID,
    held_until: datetime,
) -> list[int]:
    """Claim `quantity` places of a general-admission section, all or nothing."""
    claimed = await ClaimRepository(db).claim_any(
        showtime_id, section_id, quantity, hold_id, held_until
    )
    return _enough(claimed, quantity, section_id)


def _enough(changed: list[int], quantity: int, section_id: uuid.UUID) -> list[int]:
    if len(changed) < quantity:
        raise SoldOut(
            f"Fewer than {quantity} places are left in this section",
            extra={"section_id": str(section_id)},
        )
    return changed


async def claim_best_available(
    db: Db,
    showtime_id: uuid.UUID,
    quantity: int,
    hold_id: uuid.UUID,
    held_until: datetime,
    *,
    section_ids: Sequence[str] | None,
    allow_split: bool,
    accessible: bool | None = False,
) -> list[int]:
    """Claim the best `quantity` adjacent seats (or, if allowed, the best scattered ones):
    wheelchair-accessible seats only if `accessible`, none if False, any if None."""
    repo = ClaimRepository(db)
    failed: set[int] = set()
    refreshed = False
    for _attempt in range(_BEST_AVAILABLE_ATTEMPTS):
        cached = await CACHE.get(db, showtime_id, max_age=0 if refreshed else None)
        now = time.time()
        blocks = pick_blocks(
            cached,
            quantity,
            section_ids=section_ids,
            now=now,
            avoid=failed,
            limit=1,
            accessible=accessible,
        )
        if not blocks and allow_split:
            scattered = pick_scattered(
                cached,
                quantity,
                section_ids=section_ids,
                now=now,
                avoid=failed,
                accessible=accessible,
            )
            blocks = [scattered] if scattered else []
        if not blocks:
            if refreshed:
                break
            refreshed = True
            failed.clear()
            continue
        block = blocks[0]
        # Mark before the round trip, so concurrent requests of this process pick elsewhere.
        CACHE.note_claimed(showtime_id, block)
        claimed = await repo.claim_block(showtime_id, block, hold_id, held_until)
        if claimed:
            return claimed
        failed.update(block)
    kind = ("" if allow_split else "adjacent ") + ("accessible " if accessible is True else "")
    raise SoldOut(
        f"No {quantity} {kind}seats are left" + (" in this section" if section_ids else "")
    )


async def release_hold_units(db: Db, showtime_id: uuid.UUID, hold_id: uuid.UUID) -> list[int]:
    """Give a hold's units back to stock (only those it still holds)."""
    return await ClaimRepository(db).release_hold(showtime_id, hold_id)


async def units_released(
    session: AsyncSession, showtime_id: uuid.UUID, unit_ids: Sequence[int], reason: str
) -> None:
    """Tell whoever listens (the waitlist's offer runs, webhooks, the broker) that these units
    of the showtime are on sale again, in the caller's transaction; nothing when none were."""
    if unit_ids:
        await emit(
            session,
            Topic.units_released,
            showtime_id,
            {"showtime_id": str(showtime_id), "unit_ids": list(unit_ids), "reason": reason},
        )


async def lock_claimable_units(
    db: Db, *, hold_ids: Sequence[uuid.UUID] = (), booking_ids: Sequence[uuid.UUID] = ()
) -> None:
    """Before freeing many holds or bookings in one transaction: lock their claimable units
    first, in one order (see `ClaimRepository.lock_claimable`)."""
    if hold_ids or booking_ids:
        await ClaimRepository(db).lock_claimable(hold_ids=hold_ids, booking_ids=booking_ids)


async def extend_hold_units(
    db: Db, showtime_id: uuid.UUID, hold_id: uuid.UUID, held_until: datetime
) -> list[int]:
    return await ClaimRepository(db).extend_hold(showtime_id, hold_id, held_until)


async def attach_booking_units(
    db: Db,
    showtime_id: uuid.UUID,
    hold_id: uuid.UUID,
    booking_id: uuid.UUID,
    held_until: datetime,
) -> list[int]:
    """Move a live hold's units under a pending booking, kept until `held_until`."""
    return await ClaimRepository(db).attach_booking(showtime_id, hold_id, booking_id, held_until)


async def attach_booking_units_priced(
    db: Db,
    showtime_id: uuid.UUID,
    hold_id: uuid.UUID,
    booking_id: uuid.UUID,
    held_until: datetime,
) -> list[tuple[Any, ...]]:
    """`attach_booking_units`, answering (unit id, section id, seat id, label, price_minor,
    currency) for each unit moved, in unit order: a booking is priced from the same
    statement that moves its units."""
    return await ClaimRepository(db).attach_booking_priced(
        showtime_id, hold_id, booking_id, held_until
    )


async def sell_booking_units(
    db: Db, showtime_id: uuid.UUID, hold_id: uuid.UUID, booking_id: uuid.UUID
) -> list[int]:
    return await ClaimRepository(db).sell_booking(showtime_id, hold_id, booking_id)


async def free_booking_units(
    db: Db,
    showtime_id: uuid.UUID,
    hold_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    unit_ids: Sequence[int] | None = None,
) -> list[int]:
    """Put a booking's units (all, or just `unit_ids`) back on sale."""
    return await ClaimRepository(db).free_booking(showtime_id, hold_id, booking_id, unit_ids)
