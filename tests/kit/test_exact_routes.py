"""`ExactRoutes` chooses what FastAPI's router chooses: every request sent twice through the
same app, once with FastAPI's router as the entry and once with `ExactRoutes`, and the
answers (status, headers, body) and the scope each route is run with compared."""

import re
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute, _IncludedRouter
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from boxoffice.app import create_app
from boxoffice.kit.exact_routes import ExactRoutes, exact_table, install_exact_routes
from boxoffice.kit.lean_route import LeanRoute

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
Seen = list[tuple[str, list[str], dict[str, Any]]]


def _snapshot(scope: Scope) -> tuple[list[str], dict[str, Any]]:
    """The scope as a route is run with it: its keys in order, and their values (FastAPI's
    own entries copied; a per-request exit stack by its type only)."""
    values = {
        key: type(value).__name__
        if isinstance(value, AsyncExitStack)
        else dict(value)
        if isinstance(value, dict)
        else value
        for key, value in scope.items()
    }
    return list(scope), values


def _recorder(name: str, app: ASGIApp, seen: Seen, run: bool) -> ASGIApp:
    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((name, *_snapshot(scope)))
        if run:
            await app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})

    record.recorded = True  # type: ignore[attr-defined]
    return record


def _record(app: FastAPI, seen: Seen, *, run: bool = True) -> None:
    """Every route's own app records the scope it is given (and answers 299 unless `run`)."""
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                if context.app is not None and not hasattr(context.app, "recorded"):
                    name = f"{context.path_format} {sorted(context.methods)}"
                    context.app = _recorder(name, context.app, seen, run)
        elif isinstance(route, Route) and not hasattr(route.app, "recorded"):
            route.app = _recorder(route.path_format, route.app, seen, run)


async def _call(
    app: FastAPI, method: str, path: str, root_path: str = ""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": [(b"host", b"test"), (b"x-request-id", b"same")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    status, headers, body = 0, [], b""

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, headers, body
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(scope, receive, send)
    return status, headers, body


async def _both(
    app: FastAPI, seen: Seen, method: str, path: str, root_path: str = ""
) -> tuple[Any, Any]:
    """The answer and the scopes routes saw, with FastAPI's router, then with `ExactRoutes`."""
    exact = app.router.middleware_stack
    assert isinstance(exact, ExactRoutes)
    outcomes = []
    for entry in (app.router.app, exact):
        app.router.middleware_stack = entry
        seen.clear()
        answer: Any
        try:
            answer = await _call(app, method, path, root_path)
        except Exception as exc:  # what escapes the app escapes it alike
            answer = (type(exc).__name__, str(exc))
        outcomes.append((answer, list(seen)))
    app.router.middleware_stack = exact
    return outcomes[0], outcomes[1]


def _concrete(path_format: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path_format)


def _paths(app: FastAPI) -> Iterator[str]:
    """Every route's path, and the ones near it: a trailing slash added or taken away (the
    router's redirect), one segment more, a newline after (which a route's `$` matches)."""
    formats = []
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter):
            formats += [context.path_format for context in route.effective_route_contexts()]
        else:
            formats.append(route.path_format)  # type: ignore[attr-defined]
    paths = ["/", "/nope", "/api", "/api/"]
    for path_format in formats:
        path = _concrete(path_format)
        paths += [path, path + "/", path.rstrip("/") or "/", path + "/x", path + "\n"]
    yield from dict.fromkeys(paths)


async def test_every_route_of_the_app_is_chosen_as_fastapi_chooses() -> None:
    app = create_app()
    seen: Seen = []
    _record(app, seen, run=False)
    table = exact_table(app.router)
    straight = compared = 0
    for path in _paths(app):
        for method in METHODS:
            stock, exact = await _both(app, seen, method, path)
            assert exact == stock, (method, path)
            compared += 1
            straight += method in table.get(path, {})
            if stock[1]:  # a route ran: its scope holds what the router chose
                _, keys, _ = stock[1][0]
                assert {"router", "endpoint", "path_params"} <= set(keys)
    assert compared > 3000
    assert straight > 50


async def test_a_root_path_is_left_to_fastapi() -> None:
    """Routes match the path less the root path: `/api/bookings/hold-seats` under a root
    path of `/api` is `/bookings/hold-seats` to FastAPI's router (none)."""
    app = create_app()
    seen: Seen = []
    _record(app, seen, run=False)
    for root_path, path in [
        ("/api", "/api/bookings/hold-seats"),
        ("/box", "/box/api/bookings/hold-seats"),
        ("/box", "/api/bookings/hold-seats"),
        ("/box", "/box"),
    ]:
        stock, exact = await _both(app, seen, "POST", path, root_path)
        assert exact == stock


def test_the_sale_routes_go_straight() -> None:
    """The hold and the booking are in the table: a change in FastAPI or in the app's
    routes that left them to FastAPI's router would show here, not only in a bench."""
    app = create_app()
    assert isinstance(app.router.middleware_stack, ExactRoutes)
    table = exact_table(app.router)
    for path in ("/api/bookings/hold-seats", "/api/bookings/create"):
        target = table[path]["POST"]
        assert target.route.path == path
        assert set(table[path]) == {"POST"}
    assert table["/api/users/me"].keys() == {"GET", "DELETE"}


def _app(*routers: APIRouter, before: Callable[[FastAPI], None] | None = None) -> FastAPI:
    app = FastAPI()
    if before is not None:
        before(app)
    for router in routers:
        app.include_router(router)
    install_exact_routes(app)
    return app


def _router(
    name: str,
    routes: list[tuple[str, str]],
    route_class: type[APIRoute] = LeanRoute,
    **kwargs: Any,
) -> APIRouter:
    router = APIRouter(route_class=route_class, **kwargs)
    for method, path in routes:

        async def endpoint(request: Request, at: str = f"{name} {method} {path}") -> str:
            return at

        router.add_api_route(path, endpoint, methods=[method])
    return router


async def _same_everywhere(app: FastAPI, paths: list[str]) -> None:
    seen: Seen = []
    _record(app, seen)
    for path in paths:
        for method in METHODS:
            stock, exact = await _both(app, seen, method, path)
            assert exact == stock, (method, path)


def _straight(app: FastAPI) -> dict[str, set[str]]:
    return {path: set(by_method) for path, by_method in exact_table(app.router).items()}


async def test_an_earlier_route_with_a_parameter_keeps_its_method() -> None:
    """`GET /items/{item_id}` before `GET /items/special`: FastAPI's router gives a GET of
    `/items/special` to the first; only the POST goes straight."""
    items = _router(
        "items",
        [("GET", "/items/{item_id}"), ("GET", "/items/special"), ("POST", "/items/special")],
        prefix="/api",
    )
    app = _app(items)
    assert _straight(app) == {"/api/items/special": {"POST"}}
    await _same_everywhere(app, ["/api/items/special", "/api/items/1", "/api/items/special/"])


async def test_an_earlier_router_or_app_route_keeps_its_method() -> None:
    first = _router("first", [("PUT", "/things/{thing_id}")])
    second = _router("second", [("PUT", "/things/new"), ("GET", "/things/new"), ("GET", "/x")])

    def app_route(app: FastAPI) -> None:
        @app.get("/x")
        async def x() -> str:
            return "app"

    app = _app(first, second, before=app_route)
    assert _straight(app) == {"/things/new": {"GET"}}
    await _same_everywhere(app, ["/things/new", "/things/1", "/x", "/x/"])


class _Refusing(StringConvertor):
    """A convertor that fails on a path its pattern matched."""

    def convert(self, value: str) -> str:
        raise ValueError(f"refused {value}")


async def test_an_earlier_route_whose_convertor_may_fail_ends_the_walk() -> None:
    register_url_convertor("exact_routes_refusing", _Refusing())
    app = _app(
        _router(
            "r",
            [("GET", "/c/{x:exact_routes_refusing}"), ("POST", "/c/fixed"), ("GET", "/d")],
        )
    )
    assert _straight(app) == {"/d": {"GET"}}
    await _same_everywhere(app, ["/c/fixed", "/d"])


async def test_a_route_taking_every_method_ends_the_walk() -> None:
    def any_method(app: FastAPI) -> None:
        async def anything(request: Request) -> Any:
            return None

        app.router.routes.append(Route("/both", anything, methods=None))

    app = _app(_router("r", [("GET", "/both"), ("GET", "/other")]), before=any_method)
    assert _straight(app) == {"/other": {"GET"}}


@pytest.mark.parametrize(
    "unread",
    ["mount", "nested", "form_limits", "own_matching"],
)
async def test_routes_it_does_not_read_are_left_to_fastapi(unread: str) -> None:
    router = _router("r", [("GET", "/a"), ("POST", "/a")])
    if unread == "mount":
        app = _app(router, before=lambda app: app.mount("/m", FastAPI()))
    elif unread == "nested":
        outer = _router("outer", [("GET", "/b")])
        outer.include_router(_router("inner", [("GET", "/c")]))
        app = _app(router, outer)
    elif unread == "form_limits":
        app = FastAPI()
        app.include_router(router, form_limits={"max_files": 3})
        install_exact_routes(app)
    else:

        class OwnMatching(APIRoute):
            def matches(self, scope: Scope) -> tuple[Match, Scope]:
                return super().matches(scope)

        app = _app(router, _router("own", [("GET", "/d")], route_class=OwnMatching))
    assert exact_table(app.router) == {}
    await _same_everywhere(app, ["/a", "/b", "/c", "/d", "/m", "/m/a"])


async def test_routes_added_after_a_request_are_seen() -> None:
    """A route added to an earlier router once the table was made comes first, as in
    FastAPI's router: the table is made again."""
    first = _router("first", [("GET", "/one")])
    second = _router("second", [("GET", "/two")])
    app = _app(first, second)
    seen: Seen = []
    _record(app, seen)
    before = await _both(app, seen, "GET", "/two")
    assert before[0] == before[1]
    assert before[1][0][2] == b'"second GET /two"'

    async def two() -> str:
        return "first GET /two"

    first.add_api_route("/two", two, methods=["GET"])
    _record(app, seen)
    stock, exact = await _both(app, seen, "GET", "/two")
    assert exact == stock
    assert exact[0][2] == b'"first GET /two"'
    assert exact_table(app.router)["/two"]["GET"].route.endpoint is two  # the new one


def test_a_router_with_its_own_entry_is_left_alone() -> None:
    async def entry(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    app = FastAPI()
    app.router.middleware_stack = entry
    install_exact_routes(app)
    assert app.router.middleware_stack is entry


@pytest.mark.parametrize(
    "extra",
    [
        {"fastapi.telemetry": object()},  # FastAPI's telemetry names the route it chose
        {"fastapi": {}},  # an app mounted in another FastAPI app
        {"root_path": "/box"},
        {"type": "websocket"},
    ],
)
async def test_scopes_it_does_not_read_go_to_fastapi(extra: dict[str, Any]) -> None:
    app = create_app()
    exact = app.router.middleware_stack
    assert isinstance(exact, ExactRoutes)
    stock: list[Scope] = []

    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        stock.append(scope)

    exact.stock = router
    scope = {"type": "http", "method": "POST", "path": "/api/bookings/hold-seats", **extra}
    await exact(scope, _never, _never)
    assert stock == [scope]


async def _never(*args: Any) -> Any:
    raise AssertionError("not called")
