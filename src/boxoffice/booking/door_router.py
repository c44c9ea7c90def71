"""Admission at the door (check-in), for the event's staff."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from boxoffice.auth.dependencies import AppSettings, CurrentUser
from boxoffice.booking import check_in
from boxoffice.booking.router import Idempotent
from boxoffice.booking.schemas import (
    MAX_MANIFEST_PAGE,
    CheckIn,
    CheckInCreate,
    CheckInSummary,
    CheckInSync,
    CheckInSyncResult,
    DoorTicket,
    Manifest,
)
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination

router = APIRouter(
    prefix="/api", tags=["check-in"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


@router.post(
    "/showtimes/{showtime_id}/check-ins",
    response_model=CheckIn,
    status_code=201,
    summary="Check a ticket in at the door by its scanned code, once (event staff)",
)
async def check_in_ticket(
    showtime_id: uuid.UUID,
    data: CheckInCreate,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    idem: Idempotent,
) -> CheckIn:
    out = await check_in.check_in(session, user, showtime_id, data, settings)
    await idem.record(session, 201, out)
    return out


@router.get(
    "/showtimes/{showtime_id}/check-ins",
    response_model=CheckInSummary,
    summary="The door's count: live tickets, checked in, still to come (event staff)",
)
async def check_in_summary(
    showtime_id: uuid.UUID, session: Session, user: CurrentUser
) -> CheckInSummary:
    return await check_in.summary(session, user, showtime_id)


@router.get(
    "/showtimes/{showtime_id}/check-ins/tickets",
    response_model=Page[DoorTicket],
    summary="The door list: live tickets by holder name, to find one that will not scan",
)
async def door_list(
    request: Request,
    showtime_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    page: Pagination,
    checked_in: Annotated[
        bool | None, Query(description="Only admitted (true) or not yet admitted (false)")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Part of the holder's name, a seat label, or a booking's id or reference",
        ),
    ] = None,
) -> Page[DoorTicket]:
    items, total = await check_in.door_list(
        session, user, showtime_id, page, checked_in=checked_in, q=q
    )
    return Page[DoorTicket].build(items, total, page, request)


@router.post(
    "/showtimes/{showtime_id}/check-ins/sync",
    response_model=CheckInSyncResult,
    summary="Send the scans a scanner made offline: each admitted once, at its scan time",
)
async def sync_check_ins(
    showtime_id: uuid.UUID,
    data: CheckInSync,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    idem: Idempotent,
) -> CheckInSyncResult:
    out = await check_in.sync(session, user, showtime_id, data, settings)
    await idem.record(session, 200, out)
    return out


@router.get(
    "/showtimes/{showtime_id}/check-ins/manifest",
    response_model=Manifest,
    summary="The scanner manifest: paid and void tickets by hash of code, to scan offline",
)
async def scanner_manifest(
    request: Request,
    showtime_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    after: Annotated[
        uuid.UUID | None, Query(description="The previous page's `next_after`")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_MANIFEST_PAGE, description="Tickets per page")
    ] = MAX_MANIFEST_PAGE,
) -> Manifest:
    out = await check_in.manifest(session, user, showtime_id, settings, after=after, limit=limit)
    if out.next_after is not None:
        out.next = str(request.url.include_query_params(after=out.next_after, limit=limit))
    return out


@router.delete(
    "/showtimes/{showtime_id}/check-ins/{ticket_id}",
    response_model=CheckIn,
    summary="Undo a ticket's check-in (scanned by mistake, or let in again) (event staff)",
)
async def undo_check_in(
    showtime_id: uuid.UUID, ticket_id: uuid.UUID, session: Session, user: CurrentUser
) -> CheckIn:
    return await check_in.undo_check_in(session, user, showtime_id, ticket_id)
