"""Admin and organizer analytics (seed 001) and system statistics (seed 004)."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from boxoffice.analytics import service
from boxoffice.analytics.schemas import Analytics, StatsOverview
from boxoffice.auth.dependencies import require
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute

router = APIRouter(tags=["analytics"], responses=PROBLEM_RESPONSES, route_class=LeanRoute)

AnalyticsReader = Annotated[User, Depends(require(Permission.analytics_read_own))]
StatsReader = Annotated[User, Depends(require(Permission.analytics_read))]


@router.get(
    "/api/admin/analytics",
    response_model=Analytics,
    summary="Booking totals, daily series, seat utilization and top events "
    "(admins: all; organizers: their own events)",
)
async def get_analytics(
    session: Session,
    user: AnalyticsReader,
    event_id: Annotated[uuid.UUID | None, Query()] = None,
    organizer_id: Annotated[
        uuid.UUID | None, Query(description="Admins only; organizers see their own events")
    ] = None,
    date_from: Annotated[
        date | None, Query(alias="from", description="First UTC day (default: to - 29 days)")
    ] = None,
    date_to: Annotated[
        date | None, Query(alias="to", description="Last UTC day (default: today)")
    ] = None,
    events_limit: Annotated[
        int, Query(ge=1, le=200, description="Most events in the utilization list")
    ] = 50,
    top: Annotated[int, Query(ge=1, le=100, description="Most rows in top_events")] = 10,
) -> Analytics:
    return await service.analytics(
        session,
        user,
        event_id=event_id,
        organizer_id=organizer_id,
        date_from=date_from,
        date_to=date_to,
        events_limit=events_limit,
        top=top,
    )


@router.get(
    "/api/stats/overview",
    response_model=StatsOverview,
    summary="System statistics: users by role, events by status, upcoming showtimes, "
    "bookings today",
)
async def get_overview(session: Session, user: StatsReader) -> StatsOverview:
    return await service.overview(session)
