from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from boxoffice.db.engine import Session
from boxoffice.kit.lean_route import LeanRoute

router = APIRouter(tags=["health"], route_class=LeanRoute)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


@router.get("/health", response_model=Health, summary="The process is alive")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    summary="The database is reachable and migrated to head",
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
async def ready(request: Request, session: Session) -> Readiness | JSONResponse:
    expected: frozenset[str] = request.app.state.migration_heads
    try:
        rows = await session.scalars(text("SELECT version_num FROM alembic_version"))
        current = frozenset(rows.all())
    except Exception:
        body = Readiness(status="unavailable", database="unreachable", migrations="unknown")
        return JSONResponse(body.model_dump(), status_code=503)
    if current != expected:
        body = Readiness(status="unavailable", database="ok", migrations="behind")
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ok", database="ok", migrations="head")
