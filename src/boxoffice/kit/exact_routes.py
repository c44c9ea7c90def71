"""`ExactRoutes`: a request whose path is exactly one route's fixed path (no path parameters)
goes straight to that route, where FastAPI's router would walk every route before it.

FastAPI's router tries the app's routes in order, and tries each included router's routes
in turn (twice: once to find the router, once more inside it), each by a regular
expression. Here a table made from the same routes answers (path, method) -> route, and
holds only the pairs for which that walk is known to end at that route: the route's path
has no parameters, no route before it in the walk matches the path for that method (a
parametrised `/api/bookings/{booking_id}` before `/api/bookings/export.csv` would), and no
route in the walk up to it is of a kind whose matching is not read here. A pair not in the
table (another method: FastAPI's 405; a path with a trailing slash: its redirect; any other
path) goes to FastAPI's router, unchanged. A request whose scope the router would read
differently also goes there: telemetry on (`fastapi.telemetry`), a `root_path`, a scope
already holding FastAPI's own entries (an app mounted in another).

A request sent straight to its route gets what FastAPI's router leaves in its scope for
that route: `router` (if not there), `endpoint`, `path_params` (a copy of any already
there), `route`, and under `fastapi` the included router and the route's context in it
(which `APIRoute.handle` reads to run the route as included: its prefix, dependencies,
body limit), then the route's own `handle`, as FastAPI calls it. The table is made on
the first request and made again when a router's routes change through FastAPI (their
version); an app whose routers set form limits, or any router nested in an included
one, gets no table (FastAPI's router for everything).
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _FASTAPI_INCLUDED_ROUTER_KEY,
    _FASTAPI_SCOPE_KEY,
    APIRoute,
    APIRouter,
    APIWebSocketRoute,
    _EffectiveRouteContext,
    _IncludedRouter,
)
from starlette.convertors import (
    Convertor,
    FloatConvertor,
    IntegerConvertor,
    PathConvertor,
    StringConvertor,
    UUIDConvertor,
)
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

_TELEMETRY_SCOPE_KEY = "fastapi.telemetry"


@dataclass(frozen=True, slots=True)
class _Target:
    """Where FastAPI's router ends for one (path, method)."""

    included: _IncludedRouter
    context: _EffectiveRouteContext
    route: APIRoute
    endpoint: Callable[..., Any] | None
    versions: tuple[tuple[APIRouter, int], ...]
    """The routers walked up to it (the app's, then each included one's) and their routes'
    version when the table was made: a route added to any of them may come first."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One route in the order FastAPI's router tries them, as far as matching goes."""

    regex: re.Pattern[str]
    methods: frozenset[str] | None
    path: str
    target: _Target | None
    """Set when it can be gone to straight: an included `APIRoute` with a fixed path."""
    convertors_read: bool
    """Its path parameters' convertors are Starlette's own, which take whatever their
    pattern matched; another may fail on a path it matched (FastAPI's router then raises)."""


class _Unsupported(Exception):
    """Something in the routes whose matching is not read here."""


def _is_api_route(route: BaseRoute) -> bool:
    # A route class of our own (`LeanRoute`) keeps FastAPI's matching and handling.
    return (
        isinstance(route, APIRoute)
        and type(route).matches is APIRoute.matches
        and type(route).handle is APIRoute.handle
    )


_PLAIN_CONVERTORS = (
    StringConvertor,
    PathConvertor,
    IntegerConvertor,
    FloatConvertor,
    UUIDConvertor,
)


def _plain(convertors: Mapping[str, Convertor[Any]]) -> bool:
    return all(type(c) in _PLAIN_CONVERTORS for c in convertors.values())


def _candidates(router: APIRouter) -> list[_Candidate]:
    """The app's routes in FastAPI's matching order, or `_Unsupported`."""
    if router.form_limits:
        raise _Unsupported
    walked: list[tuple[APIRouter, int]] = [(router, router._routes_version)]
    candidates: list[_Candidate] = []
    for route in router.routes:
        if isinstance(route, _IncludedRouter):
            included = route.original_router
            if type(route) is not _IncludedRouter or route.include_context.form_limits:
                raise _Unsupported
            if type(included).matches is not APIRouter.matches:
                raise _Unsupported
            if type(included).handle is not APIRouter.handle:
                raise _Unsupported
            walked.append((included, included._routes_version))
            versions = tuple(walked)
            for context in route.effective_candidates():
                if not isinstance(context, _EffectiveRouteContext):
                    raise _Unsupported  # a router included in an included router
                original = context.original_route
                if context.starlette_route is not None or not isinstance(original, APIRoute):
                    raise _Unsupported
                if not _is_api_route(original):
                    raise _Unsupported
                target = None
                if not context.param_convertors:
                    target = _Target(route, context, original, context.endpoint, versions)
                candidates.append(
                    _Candidate(
                        context.path_regex,
                        frozenset(context.methods) if context.methods else None,
                        context.path_format,
                        target,
                        _plain(context.param_convertors),
                    )
                )
        elif type(route) in (Route, APIRoute) and isinstance(route, Route):
            candidates.append(
                _Candidate(
                    route.path_regex,
                    frozenset(route.methods) if route.methods else None,
                    route.path_format,
                    None,
                    _plain(route.param_convertors),
                )
            )
        elif type(route) in (WebSocketRoute, APIWebSocketRoute):
            continue  # never matches an HTTP request
        else:
            raise _Unsupported
    return candidates


def exact_table(router: APIRouter) -> dict[str, dict[str, _Target]]:
    """(path -> method -> target) for the pairs FastAPI's router is known to end at."""
    try:
        candidates = _candidates(router)
    except _Unsupported:
        return {}
    table: dict[str, dict[str, _Target]] = {}
    for path in dict.fromkeys(c.path for c in candidates if c.target is not None):
        decided: set[str] = set()
        by_method: dict[str, _Target] = {}
        for candidate in candidates:
            if not candidate.regex.match(path):
                continue
            if candidate.methods is None or not candidate.convertors_read:
                break  # every method matches here (or may fail): nothing after it is chosen
            for method in candidate.methods - decided:
                decided.add(method)
                if candidate.target is not None and candidate.path == path:
                    by_method[method] = candidate.target
        if by_method:
            table[path] = by_method
    return table


class ExactRoutes:
    """The app router's entry (`router.middleware_stack`): a table lookup, then FastAPI's
    router for whatever the table does not hold."""

    def __init__(self, router: APIRouter, stock: ASGIApp) -> None:
        self.router = router
        self.stock = stock
        self._table: dict[str, dict[str, _Target]] | None = None

    def lookup(self, path: str, method: str) -> _Target | None:
        """The route FastAPI's router would choose, if the table holds (path, method)."""
        table = self._table
        if table is None:
            table = self._table = exact_table(self.router)
        by_method = table.get(path)
        target = by_method.get(method) if by_method is not None else None
        if target is None:
            return None
        for router, version in target.versions:
            if router._routes_version != version:
                self._table = exact_table(self.router)
                return self.lookup(path, method)
        return target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and _TELEMETRY_SCOPE_KEY not in scope
            and _FASTAPI_SCOPE_KEY not in scope
            and not scope.get("root_path")
        ):
            target = self.lookup(scope["path"], scope["method"])
            if target is not None:
                # What FastAPI's router leaves in the scope, in its order.
                if "router" not in scope:
                    scope["router"] = self.router
                fastapi_scope: dict[str, Any] = {_FASTAPI_INCLUDED_ROUTER_KEY: target.included}
                scope[_FASTAPI_SCOPE_KEY] = fastapi_scope
                scope["endpoint"] = target.endpoint
                scope["path_params"] = dict(scope.get("path_params", {}))
                scope["route"] = target.route
                fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = target.context
                await target.route.handle(scope, receive, send)
                return
        await self.stock(scope, receive, send)


def install_exact_routes(app: FastAPI) -> None:
    """Put `ExactRoutes` in front of the app's router (unless the router has middleware or a
    body limit of its own in front of it: then nothing changes)."""
    router = app.router
    if type(router).app is APIRouter.app and router.middleware_stack == router.app:
        router.middleware_stack = ExactRoutes(router, router.middleware_stack)
