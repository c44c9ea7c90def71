import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from boxoffice.audit import service
from boxoffice.audit.schemas import AuditEntryOut
from boxoffice.audit.service import AuditFilters
from boxoffice.auth.dependencies import CurrentUser
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination

router = APIRouter(
    prefix="/api", tags=["audit"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


def audit_filters(
    action: Annotated[
        str | None, Query(max_length=64, description="e.g. booking.cancelled")
    ] = None,
    actor_id: uuid.UUID | None = None,
    target_type: Annotated[str | None, Query(max_length=32, description="e.g. booking")] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    event_id: uuid.UUID | None = None,
    since: Annotated[datetime | None, Query(description="From this instant (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this instant")] = None,
) -> AuditFilters:
    return AuditFilters(action, actor_id, target_type, target_id, event_id, since, until)


@router.get(
    "/admin/audit-log",
    response_model=Page[AuditEntryOut],
    summary="Who did what: staff actions and money, newest first (admins: all; organizers "
    "and editors: their events')",
)
async def audit_log(
    request: Request,
    session: Session,
    user: CurrentUser,
    page: Pagination,
    filters: Annotated[AuditFilters, Depends(audit_filters)],
) -> Page[AuditEntryOut]:
    entries, total = await service.list_entries(session, user, filters, page)
    return Page[AuditEntryOut].build(
        [AuditEntryOut.model_validate(e) for e in entries], total, page, request
    )
