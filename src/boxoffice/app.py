"""create_app(): settings, middleware, routers, error handlers, lifespan."""

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import configure_mappers

from boxoffice import __version__
from boxoffice.analytics.router import router as analytics_router
from boxoffice.audit.router import router as audit_router
from boxoffice.auth.dependencies import BEARER, OPTIONAL_BEARER
from boxoffice.auth.router import router as auth_router
from boxoffice.booking.door_router import router as door_router
from boxoffice.booking.router import router as booking_router
from boxoffice.booking.ticket_router import router as ticket_router
from boxoffice.catalog.router import router as catalog_router
from boxoffice.config import Settings, get_settings
from boxoffice.coupon.router import router as coupon_router
from boxoffice.db.engine import (
    RequestGate,
    close_engine,
    create_engine,
    create_sessionmaker,
    warm_up,
)
from boxoffice.db.migrate import head_revisions
from boxoffice.health.router import router as health_router
from boxoffice.inventory.router import router as inventory_router
from boxoffice.kit.errors import PROBLEM_JSON, install_error_handlers
from boxoffice.kit.exact_routes import install_exact_routes
from boxoffice.kit.idempotency import install_idempotency
from boxoffice.kit.logging import configure_logging
from boxoffice.kit.middleware import RequestContextMiddleware
from boxoffice.notification.router import router as notification_router
from boxoffice.payment.router import bookings_router as payment_bookings_router
from boxoffice.payment.router import router as payment_router
from boxoffice.review.router import router as review_router
from boxoffice.user.router import router as user_router
from boxoffice.venue.router import router as venue_router
from boxoffice.waitlist.router import router as waitlist_router

log = structlog.get_logger("boxoffice")

# Matched in this order: the sale's routes (holds, bookings) come first, as most requests
# of a busy sale are theirs.
ROUTERS = [
    health_router,
    booking_router,
    auth_router,
    user_router,
    catalog_router,
    venue_router,
    review_router,
    inventory_router,
    payment_router,
    payment_bookings_router,
    door_router,
    ticket_router,
    coupon_router,
    notification_router,
    waitlist_router,
    analytics_router,
    audit_router,
]


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is rendered."""

    type: str
    title: str
    status: int
    code: str = Field(description="Stable machine-readable error code")
    detail: str
    instance: str
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field problems (validation errors only)"
    )


def _problem_openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI where every error response is problem+json, as the API really answers."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, response in list(responses.items()):
                if status.startswith(("4", "5")) and "content" in response:
                    content = response["content"]
                    if "application/json" in content and status == "422":
                        response["content"] = problem_content
            if "422" in responses:
                responses["422"]["description"] = "Request validation failed"
            responses.setdefault(
                "default", {"description": "Error (problem+json)", "content": problem_content}
            )
    _exact_integer_bounds(schema)
    _optional_sign_in(schema)
    app.openapi_schema = schema
    return schema


def _optional_sign_in(schema: dict[str, Any]) -> None:
    """Operations that serve anyone (`OptionalUser`) take the bearer token as optional (an
    empty requirement beside it), unless something else in them needs it."""
    schemes = schema.get("components", {}).get("securitySchemes", {})
    if schemes.pop(OPTIONAL_BEARER, None) is None:
        return
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            security = operation.get("security")
            if not security or not any(OPTIONAL_BEARER in r for r in security):
                continue
            required = [r for r in security if OPTIONAL_BEARER not in r]
            operation["security"] = required or [{}, {BEARER: []}]


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def _exact_integer_bounds(node: Any) -> None:
    """Integer bounds as integers. FastAPI's OpenAPI model holds them as floats, which turns
    `100` into `100.0` and BIGINT's `2**63 - 1` into `2**63` (the float nearest it): a
    document promising an id the API refuses. Our integer bounds are all at most BIGINT's,
    so a bound that reads 2**63 was that one."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in _BOUNDS:
                value = node.get(key)
                if isinstance(value, float) and value.is_integer():
                    node[key] = min(int(value), 2**63 - 1)
        for child in node.values():
            _exact_integer_bounds(child)
    elif isinstance(node, list):
        for child in node:
            _exact_integer_bounds(child)


async def _ready_for_traffic(engine: AsyncEngine, connections: int) -> None:
    """What a process does once, before its first request, so that the first requests of a
    sale's opening burst do not pay for it (measured: the first half-second of a paced
    opening ran at 110-500 ms p50 per hold without this, 6-9 ms with it)."""
    # SQLAlchemy configures its mappers lazily, on the first ORM use: 130 ms inside the
    # first request, with all the others queued behind it.
    configure_mappers()
    # The pool's connections, each with every plain statement prepared. Bounded: a server
    # that does not answer delays startup by 5 s at most (its connections are then opened
    # on demand, as they would be without warm-up).
    started, warmed = time.perf_counter(), 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            warmed = await warm_up(engine, connections)
    log.info(
        "pool_warmed_up",
        connections=warmed,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    # What startup made (modules, mappers, routes: ~190,000 objects) lives as long as the
    # process. Left to the cyclic collector, every full collection walks all of it: 100-125
    # ms with every request of the worker stalled, every few seconds under load. Frozen,
    # those collections walk only what requests made since (27-28 ms).
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database.url:
            raise RuntimeError(
                "BOXOFFICE_DATABASE_URL is not set; start through `boxoffice serve`, "
                "which starts the embedded PostgreSQL"
            )
        engine = create_engine(settings.database.url, settings.database)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.request_gate = RequestGate(settings.database)
        await _ready_for_traffic(engine, settings.database.pool_size)
        try:
            yield
        finally:
            limiter = getattr(app.state, "rate_limiter", None)
            if limiter is not None:
                await limiter.aclose()
            await close_engine(engine)

    app = FastAPI(
        title="boxoffice",
        version=__version__,
        description=(
            "Event-ticketing backend: venues and seat maps, events and showtimes, seat holds, "
            "bookings, payments, waitlists, notifications. Errors are "
            "`application/problem+json` with a stable `code`."
        ),
        lifespan=lifespan,
        telemetry={
            "tracing": settings.log.opentelemetry,
            "metrics": settings.log.opentelemetry,
            "logs": settings.log.opentelemetry,
        },
    )
    app.state.settings = settings
    app.state.migration_heads = head_revisions()
    install_error_handlers(app)
    install_idempotency(app)
    if settings.http.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.http.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "ETag", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, access_log=settings.log.access)
    for router in ROUTERS:
        app.include_router(router)
    # A sale's requests straight to their route, where FastAPI's router tries every route
    # before it (twice, by regular expression): only where that is the route it would choose.
    install_exact_routes(app)
    app.openapi = lambda: _problem_openapi(app)  # type: ignore[method-assign]
    return app
