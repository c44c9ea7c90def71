from fastapi import APIRouter, Request

from boxoffice.catalog import service
from boxoffice.catalog.schemas import EventSummary
from boxoffice.db.engine import Session
from boxoffice.kit.pagination import Page, Pagination

router = APIRouter(prefix="/api", tags=["events"])


@router.get("/events", response_model=Page[EventSummary], summary="List published events")
async def list_events(request: Request, session: Session, page: Pagination) -> Page[EventSummary]:
    events, total = await service.list_public_events(session, page)
    return Page[EventSummary].build(
        [EventSummary.model_validate(e) for e in events], total, page, request
    )
