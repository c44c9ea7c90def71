"""Seat maps: per-seat state (never who holds a seat), cached, with ETag and a live stream."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from boxoffice.auth.dependencies import CurrentUser
from boxoffice.booking.errors import SalesClosed, ShowtimeRequired
from boxoffice.booking.schemas import SeatMap
from boxoffice.catalog.models import Showtime, ShowtimeStatus
from boxoffice.config import Settings
from boxoffice.db.engine import Session, Transaction
from boxoffice.db.transaction import Db
from boxoffice.inventory import service
from boxoffice.inventory.claim_service import CACHE
from boxoffice.inventory.schemas import UnitsChanged, UnitSelection
from boxoffice.inventory.seat_map import CachedMap, etag, render, seat_status
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.time import utcnow

router = APIRouter(
    prefix="/api", tags=["seats"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)

_SEAT_MAP_DOC: dict[int | str, dict[str, Any]] = {
    200: {"model": SeatMap, "description": "The seat map"},
    304: {"description": "Not modified"},
}


def _configure(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    CACHE.refresh_seconds = settings.booking.seat_map_refresh_ms / 1000
    return settings


async def _seat_map_response(
    request: Request, db: Db, showtime_id: uuid.UUID, if_none_match: str | None
) -> Response:
    _configure(request)
    cached = await CACHE.get(db, showtime_id)
    now = time.time()
    tag = etag(cached, now)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    gzipped = "gzip" in request.headers.get("accept-encoding", "")
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return Response(
        render(cached, gzipped=gzipped, now=now), media_type="application/json", headers=headers
    )


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


@router.post(
    "/showtimes/{showtime_id}/seats/block",
    response_model=UnitsChanged,
    summary="Take seats or places off sale (organizer of the event, or admin)",
)
async def block_seats(
    showtime_id: uuid.UUID, data: UnitSelection, session: Session, user: CurrentUser
) -> UnitsChanged:
    return await service.block(session, user, showtime_id, data)


@router.post(
    "/showtimes/{showtime_id}/seats/unblock",
    response_model=UnitsChanged,
    summary="Put blocked seats back on sale (organizer of the event, or admin)",
)
async def unblock_seats(
    showtime_id: uuid.UUID, data: UnitSelection, session: Session, user: CurrentUser
) -> UnitsChanged:
    return await service.unblock(session, user, showtime_id, data)


@router.get(
    "/showtimes/{showtime_id}/seats",
    summary="Seat map of a showtime",
    response_model=None,
    responses=_SEAT_MAP_DOC,
)
async def showtime_seats(
    request: Request, tx: Transaction, showtime_id: uuid.UUID, if_none_match: IfNoneMatch = None
) -> Response:
    return await _seat_map_response(request, tx, showtime_id, if_none_match)


@router.get(
    "/event-schedules/{schedule_id}/seats",
    summary="Seat map of a showtime (seed 000's name for it)",
    response_model=None,
    responses=_SEAT_MAP_DOC,
)
async def event_schedule_seats(
    request: Request, tx: Transaction, schedule_id: uuid.UUID, if_none_match: IfNoneMatch = None
) -> Response:
    return await _seat_map_response(request, tx, schedule_id, if_none_match)


@router.get(
    "/events/{event_id}/seats",
    summary="Seat map of an event's next showtime (the only one, or say which)",
    response_model=None,
    responses=_SEAT_MAP_DOC,
)
async def event_seats(
    request: Request,
    session: Session,
    event_id: uuid.UUID,
    showtime_id: uuid.UUID | None = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    if showtime_id is None:
        upcoming = (
            await session.scalars(
                select(Showtime.id)
                .where(
                    Showtime.event_id == event_id,
                    Showtime.status == ShowtimeStatus.scheduled,
                    Showtime.starts_at > utcnow(),
                )
                .order_by(Showtime.starts_at)
            )
        ).all()
        if not upcoming:
            raise SalesClosed("The event has no upcoming showtime")
        if len(upcoming) > 1:
            raise ShowtimeRequired(extra={"showtime_ids": [str(s) for s in upcoming]})
        showtime_id = upcoming[0]
    return await _seat_map_response(request, session, showtime_id, if_none_match)


def _snapshot(cached: CachedMap, now: float) -> dict[int, tuple[str, float | None]]:
    """Status of every seat not available (made once per state and lapse count)."""
    state = cached.state
    lapsed = state.lapsed(now)
    if state.statuses is None or state.statuses[0] != lapsed:
        seats = cached.layout.unit_section
        statuses = {
            unit_id: seat_status(taken, now)
            for unit_id, taken in state.taken.items()
            if unit_id in seats
        }
        state.statuses = (lapsed, statuses)
    return state.statuses[1]


_CHANGES_KEPT = 16


def _changes(
    cached: CachedMap,
    now: float,
    tag: str,
    seen_tag: str,
    seen: dict[int, tuple[str, float | None]],
) -> str:
    """The seats whose status differs between `seen` (at `seen_tag`) and the map now (at
    `tag`), as JSON: worked out once for all clients that come from the same state."""
    memo = cached.state.changes
    known = memo.get(seen_tag)
    if known is not None and known[0] == tag:
        return known[1]
    current = _snapshot(cached, now)
    changed = [
        {"unit_id": unit_id, "status": status}
        for unit_id, (status, _) in current.items()
        if seen.get(unit_id, ("available", None))[0] != status
    ] + [
        {"unit_id": unit_id, "status": "available"}
        for unit_id, (status, _) in seen.items()
        if unit_id not in current and status != "available"
    ]
    text = json.dumps({"version": cached.state.version, "changes": changed})
    if len(memo) >= _CHANGES_KEPT:
        memo.clear()
    memo[seen_tag] = (tag, text)
    return text


@router.get(
    "/showtimes/{showtime_id}/seats/stream",
    summary="Live seat changes (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def seat_stream(
    request: Request, session: Session, showtime_id: uuid.UUID
) -> StreamingResponse:
    """`event: seats` with the seats whose status changed, `id:` the map's version.

    The stream checks the showtime's version every `stream_poll_ms`; it reads the database
    only when the shared cache is older than that, however many clients watch, and works
    out a change once for all the clients that saw the same state before it.
    """
    settings = _configure(request)
    first = await CACHE.get(session, showtime_id)
    await session.close()
    sessionmaker = request.app.state.sessionmaker
    poll = settings.booking.stream_poll_ms / 1000

    async def events() -> AsyncIterator[str]:
        now = time.time()
        seen = _snapshot(first, now)
        tag = etag(first, now)
        yield f"id: {tag}\nevent: hello\ndata: {json.dumps({'version': first.state.version})}\n\n"
        while not await request.is_disconnected():
            await asyncio.sleep(poll)
            async with sessionmaker() as s:
                cached = await CACHE.get(s, showtime_id, max_age=poll)
            now = time.time()
            new_tag = etag(cached, now)
            if new_tag == tag:
                yield ": keep-alive\n\n"
                continue
            payload = _changes(cached, now, new_tag, tag, seen)
            seen, tag = _snapshot(cached, now), new_tag
            yield f"id: {tag}\nevent: seats\ndata: {payload}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
