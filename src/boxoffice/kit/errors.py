"""Domain errors and the one handler that renders every error as RFC 9457 problem+json.

Services raise subclasses of `BoxofficeError`; each carries its HTTP status and a stable
machine `code` that clients can switch on. Nothing else in the code base builds error bodies.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, cast

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://boxoffice.dev/problems/"

log = structlog.get_logger(__name__)


class BoxofficeError(Exception):
    """Base of every error a service may raise on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


class BadRequest(BoxofficeError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthorized(BoxofficeError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(BoxofficeError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(BoxofficeError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(BoxofficeError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(BoxofficeError):
    status = 410
    code = "gone"
    title = "Gone"


class PreconditionFailed(BoxofficeError):
    status = 412
    code = "precondition_failed"
    title = "Precondition failed"


class Unprocessable(BoxofficeError):
    """A well-formed request that breaks a business rule the schema cannot express."""

    status = 422
    code = "unprocessable"
    title = "Request cannot be processed"


class TooManyRequests(BoxofficeError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kwargs)


class ServiceUnavailable(BoxofficeError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build one problem+json response; every error path ends here."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
        "detail": detail or title,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if extra:
        # The standard members say what the response is; an extra member never overrides
        # them (a booking's "status" once replaced the HTTP status in the body).
        clashing = body.keys() & extra.keys()
        if clashing:
            log.error("problem_extra_clashes", code=code, members=sorted(clashing))
        body.update({k: v for k, v in extra.items() if k not in clashing})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

# SQLSTATE classes that mean the input was wrong, not the server: they answer 4xx.
_SQLSTATE_PROBLEMS = {
    "23505": (409, "conflict", "The resource already exists"),
    "23503": (409, "conflict", "A referenced resource does not exist or is still in use"),
    "23514": (422, "unprocessable", "A value breaks a constraint"),
    "23P01": (409, "conflict", "The resource overlaps an existing one"),
    "22P02": (400, "bad_request", "A value has the wrong format"),
    "22003": (400, "bad_request", "A number is out of range"),
    "22001": (400, "bad_request", "A text value is too long"),
    "22007": (400, "bad_request", "A date or time has the wrong format"),
    "22008": (400, "bad_request", "A date or time is out of range"),
    # A value the column type cannot hold (asyncpg refuses it before sending: an integer
    # past the column's range), and text PostgreSQL cannot store at all: a NUL character
    # in a string, or the escape \u0000 inside JSON.
    "22000": (400, "bad_request", "A value does not fit its column"),
    "22021": (400, "bad_request", "A text value holds a character that cannot be stored (NUL)"),
    "22P05": (400, "bad_request", "A text value holds an escape that cannot be stored (\\u0000)"),
    "40001": (409, "serialization_conflict", "A concurrent change won; retry the request"),
    "40P01": (409, "serialization_conflict", "A concurrent change won; retry the request"),
    "55P03": (409, "locked", "The resource is being changed by another request; retry"),
    "57014": (503, "timeout", "The database took too long to answer"),
}


# The database refused or lost the connection, or is restarting: nothing the request did,
# and nothing a retry in a moment won't fix. Connection exceptions (class 08), insufficient
# resources (53: too many connections, out of memory, disk full), and the server shutting
# down or starting up (57P01-57P03).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53")
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then the driver error it wraps (`orig`) or was raised from, and so on."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE behind `exc`: SQLAlchemy's wrapper, its asyncpg adapter's errors (which
    the plain-statement path can raise) and asyncpg's own all lead to it."""
    for current in _causes(exc):
        for attr in ("sqlstate", "pgcode"):
            value = getattr(current, attr, None)
            if isinstance(value, str):
                return value
    return None


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached or dropped the connection
    (rather than refusing what the request asked): answered 503, not 500."""
    sqlstate = _sqlstate(exc)
    if sqlstate is not None and (
        sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate in _UNAVAILABLE_SQLSTATES
    ):
        return True
    for current in _causes(exc):
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, ConnectionError):  # refused or reset while connecting
            return True
        if isinstance(current, asyncpg.InterfaceError) and "connection is closed" in str(current):
            return True
    return False


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _path_table(app: FastAPI) -> list[tuple[re.Pattern[str], int, frozenset[str]]]:
    """(path pattern, how many parameters the path has, its methods), from the OpenAPI
    document: the API's own list of what it serves, built once per app."""
    table: list[tuple[re.Pattern[str], int, frozenset[str]]] | None = getattr(
        app.state, "path_methods", None
    )
    if table is None:
        table = []
        for path, item in app.openapi().get("paths", {}).items():
            parts = re.split(r"\{[^}]+\}", path)
            pattern = re.compile("^" + "[^/]+".join(re.escape(part) for part in parts) + "$")
            methods = frozenset(m.upper() for m in item if m in _HTTP_METHODS)
            table.append((pattern, len(parts) - 1, methods))
        app.state.path_methods = table
    return table


def _methods_here(request: Request) -> list[str]:
    """The methods the API serves at the request's path. Of the paths that match it, the
    ones with the fewest parameters name it: `/api/bookings/create` is that resource, not a
    booking of `/api/bookings/{booking_id}` (Starlette's own 405 names only the first
    matching route's methods)."""
    matches = [
        (params, served)
        for pattern, params, served in _path_table(request.app)
        if pattern.match(request.url.path)
    ]
    if not matches:
        return []
    fewest = min(params for params, _ in matches)
    return sorted({m for params, served in matches if params == fewest for m in served})


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(err.get("loc", ())),
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Render domain errors, framework errors and anything unexpected as problem+json."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        exc = cast(BoxofficeError, exc)
        return problem(
            request,
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            extra=exc.extra,
            headers=exc.headers,
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        exc = cast(StarletteHTTPException, exc)
        status = exc.status_code
        if status == 405:
            served = _methods_here(request)
            allow = ", ".join(served) if served else (exc.headers or {}).get("Allow", "")
            return not_allowed(request, allow)
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        detail = exc.detail if isinstance(exc.detail, str) else title
        if status == 404 and detail == "Not Found":
            detail = f"No route matches {request.method} {request.url.path}"
        return problem(
            request,
            status=status,
            code=_HTTP_CODES.get(status, f"http_{status}"),
            title=title,
            detail=detail,
            headers=exc.headers,
        )

    def not_allowed(request: Request, allow: str) -> JSONResponse:
        return problem(
            request,
            status=405,
            code="method_not_allowed",
            title="Method Not Allowed",
            detail=f"{request.method} is not allowed on {request.url.path}",
            headers={"Allow": allow},
        )

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        exc = cast(RequestValidationError, exc)
        errors = _validation_errors(exc.errors())
        if any(e["loc"][:1] == ["path"] for e in errors):
            # A route with a parameter took a path that is another resource's name
            # (`GET /api/bookings/create` reached `/api/bookings/{booking_id}`): that
            # resource exists, without this method.
            methods = _methods_here(request)
            if methods and request.method not in methods:
                return not_allowed(request, ", ".join(methods))
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(
                request,
                status=400,
                code="malformed_json",
                title="Malformed JSON body",
                detail="The request body is not valid JSON",
                extra={"errors": errors},
            )
        return problem(
            request,
            status=422,
            code="validation_error",
            title="Request validation failed",
            detail="; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]
            ),
            extra={"errors": errors},
        )

    def retry_soon(request: Request, code: str, title: str, detail: str) -> JSONResponse:
        """A 503 nothing in the request caused: the client may send it again in a second."""
        return problem(
            request, status=503, code=code, title=title, detail=detail, headers={"Retry-After": "1"}
        )

    async def on_pool_timeout(request: Request, exc: Exception) -> JSONResponse:
        log.warning("db_pool_timeout")
        return retry_soon(
            request,
            "overloaded",
            "Server busy",
            "No database connection became free in time; retry shortly",
        )

    async def on_db_error(request: Request, exc: Exception) -> JSONResponse:
        # However it arrived: SQLAlchemy's wrapper, asyncpg's own error from a plain
        # statement (db.driver), or the error of SQLAlchemy's asyncpg adapter.
        sqlstate = _sqlstate(exc)
        mapped = _SQLSTATE_PROBLEMS.get(sqlstate or "")
        if mapped is None:
            return await on_unexpected(request, exc)
        status, code, title = mapped
        log.info("db_error_mapped", sqlstate=sqlstate, status=status)
        return problem(request, status=status, code=code, title=title)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            log.warning("database_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
            return retry_soon(
                request,
                "database_unavailable",
                "Database unavailable",
                "The database cannot be reached or dropped the connection; retry shortly",
            )
        log.exception("unhandled_error", exc_info=exc)
        return problem(request, status=500, code="internal_error", title="Internal server error")

    app.add_exception_handler(BoxofficeError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(PoolTimeoutError, on_pool_timeout)
    # A bare ConnectionError in a request is the database's connect being refused or reset.
    for database_error in (
        DBAPIError,
        EmulatedDBAPIException,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        ConnectionError,
    ):
        app.add_exception_handler(database_error, on_db_error)
    app.add_exception_handler(Exception, on_unexpected)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status in (400, 401, 403, 404, 409, 422)
}
"""Responses every router declares, so /docs shows the error shape truthfully."""
