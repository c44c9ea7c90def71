"""Waitlists over HTTP: join, list, read, leave; demand per showtime for organizers."""

import uuid

from fastapi import APIRouter

from boxoffice.auth.dependencies import CurrentUser
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.waitlist import service
from boxoffice.waitlist.schemas import EntryCreate, EntryOut, WaitlistSummary

router = APIRouter(
    prefix="/api", tags=["waitlists"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


@router.post(
    "/waitlists",
    response_model=EntryOut,
    status_code=201,
    summary="Join the waitlist of a showtime (joining twice returns the open entry)",
)
async def join(data: EntryCreate, session: Session, user: CurrentUser) -> EntryOut:
    entry = await service.join(session, user, data)
    return (await service.present(session, [entry]))[0]


@router.get("/waitlists/me", response_model=list[EntryOut], summary="Your waitlist entries")
async def mine(session: Session, user: CurrentUser) -> list[EntryOut]:
    return await service.present(session, await service.my_entries(session, user))


@router.get("/waitlists/{entry_id}", response_model=EntryOut, summary="One of your entries")
async def read(entry_id: uuid.UUID, session: Session, user: CurrentUser) -> EntryOut:
    entry = await service.own_entry(session, user, entry_id)
    return (await service.present(session, [entry]))[0]


@router.delete(
    "/waitlists/{entry_id}",
    response_model=EntryOut,
    summary="Leave the waitlist (an open offer's seats are released)",
)
async def leave(entry_id: uuid.UUID, session: Session, user: CurrentUser) -> EntryOut:
    entry = await service.leave(session, user, entry_id)
    return (await service.present(session, [entry]))[0]


@router.get(
    "/showtimes/{showtime_id}/waitlist",
    response_model=WaitlistSummary,
    summary="Waitlist demand of a showtime (its organizer, or admins)",
)
async def showtime_summary(
    showtime_id: uuid.UUID, session: Session, user: CurrentUser
) -> WaitlistSummary:
    return await service.summary(session, user, showtime_id)
