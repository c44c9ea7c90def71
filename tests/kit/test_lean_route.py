"""`LeanRoute` answers as FastAPI's stock route does: one set of endpoints mounted twice,
once with each route class, and every request sent to both."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from boxoffice.app import ROUTERS, create_app
from boxoffice.kit.lean_route import LeanRoute, _Lean


class Order(BaseModel):
    quantity: int = Field(ge=1, le=6)
    note: str | None = None


class Receipt(BaseModel):
    quantity: int
    seen: list[str]


async def real_flavour() -> str:
    return "real"


def _endpoints(route_class: type[APIRoute], log: list[str]) -> APIRouter:
    router = APIRouter(route_class=route_class)

    async def tx() -> AsyncIterator[str]:
        log.append("enter")
        try:
            yield "tx"
        except BaseException as exc:
            log.append(f"rollback:{type(exc).__name__}")
            raise
        log.append("commit")

    async def caller(
        tx: Annotated[str, Depends(tx, scope="function")],
        authorization: Annotated[str | None, Header()] = None,
    ) -> str:
        log.append("caller")
        if authorization is None:
            raise HTTPException(401, "sign in")
        return authorization

    async def key(
        request: Request,
        connection: HTTPConnection,
        caller: Annotated[str, Depends(caller)],
        idempotency_key: Annotated[str | None, Header(max_length=8)] = None,
    ) -> str | None:
        log.append(f"key {request.url.path} {connection is request}")
        return idempotency_key

    @router.post("/orders/{shop}", response_model=Receipt, status_code=201)
    async def order(
        shop: int,
        data: Order,
        tx: Annotated[str, Depends(tx, scope="function")],
        who: Annotated[str, Depends(caller)],
        key: Annotated[str | None, Depends(key)],
        flavour: Annotated[str, Depends(real_flavour)],
        limit: Annotated[int, Query(ge=1)] = 10,
    ) -> dict[str, Any]:
        if data.quantity == 6:
            raise HTTPException(409, "sold out")
        if data.quantity == 5:
            return {"quantity": "five", "seen": []}  # breaks the response model
        return {"quantity": data.quantity, "seen": [str(shop), who, str(key), str(limit), flavour]}

    @router.delete("/orders/{shop}", status_code=204)
    async def remove(shop: int, who: Annotated[str, Depends(caller)]) -> None:
        return None

    @router.get("/headers")
    async def headers(response: Response) -> dict[str, str]:
        response.headers["X-Stock"] = "yes"  # a Response parameter: FastAPI's own handler
        return {"ok": "yes"}

    return router


def _app(route_class: type[APIRoute], log: list[str]) -> FastAPI:
    app = FastAPI()
    app.include_router(_endpoints(route_class, log), prefix="/api")
    return app


JSON = {"authorization": "a", "content-type": "application/json"}
REQUESTS: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("POST", "/api/orders/7", JSON, b'{"quantity": 2}'),
    ("POST", "/api/orders/7?limit=3", {**JSON, "idempotency-key": "k1"}, b'{"quantity": 2}'),
    ("POST", "/api/orders/7", JSON, b'{"quantity": 9}'),
    # errors in a path, a query, a dependency's header and the body, gathered together
    (
        "POST",
        "/api/orders/x?limit=0",
        {**JSON, "idempotency-key": "too-long-1"},
        b'{"quantity": 0}',
    ),
    ("POST", "/api/orders/7", {"content-type": "application/json"}, b'{"quantity": 0}'),
    ("POST", "/api/orders/7", JSON, b'{"quantity": '),
    ("POST", "/api/orders/7", {**JSON, "content-type": "text/plain"}, b'{"quantity": 2}'),
    ("POST", "/api/orders/7", {"authorization": "a"}, b'{"quantity": 2}'),
    (
        "POST",
        "/api/orders/7",
        {**JSON, "content-type": "application/x+json; q=1"},
        b'{"quantity": 3}',
    ),
    ("POST", "/api/orders/7", JSON, None),
    ("POST", "/api/orders/7", JSON, b'{"quantity": 6}'),
    ("DELETE", "/api/orders/7", {"authorization": "a"}, None),
    ("GET", "/api/headers", {}, None),
]


async def _send(
    app: FastAPI, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, Any, dict[str, str]]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.request(method, path, headers=headers, content=body)
    kept = {k: v for k, v in response.headers.items() if k in ("content-type", "x-stock")}
    return response.status_code, response.json() if response.content else None, kept


@pytest.mark.parametrize(("method", "path", "headers", "body"), REQUESTS)
async def test_answers_as_fastapi_does(
    method: str, path: str, headers: dict[str, str], body: bytes | None
) -> None:
    stock_log: list[str] = []
    lean_log: list[str] = []
    stock = await _send(_app(APIRoute, stock_log), method, path, headers, body)
    lean = await _send(_app(LeanRoute, lean_log), method, path, headers, body)
    assert lean == stock
    assert lean_log == stock_log  # the same dependencies, in the same order, exited alike


async def test_a_broken_response_model_fails_as_in_fastapi() -> None:
    body = b'{"quantity": 5}'
    headers = {"authorization": "a", "content-type": "application/json"}
    outcomes = []
    for route_class in (APIRoute, LeanRoute):
        log: list[str] = []
        with pytest.raises(ResponseValidationError) as raised:
            await _send(_app(route_class, log), "POST", "/api/orders/7", headers, body)
        outcomes.append((type(raised.value).__name__, str(raised.value).splitlines()[0], log))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "ResponseValidationError"


async def test_overrides_are_honoured() -> None:
    """An override with its own parameters replaces the dependency (tests swap `get_tx`)."""

    async def fake_flavour(x_flavour: Annotated[str, Header()]) -> str:
        return f"fake-{x_flavour}"

    outcomes = []
    for route_class in (APIRoute, LeanRoute):
        app = _app(route_class, [])
        plain = await _send(app, *REQUESTS[0])
        app.dependency_overrides[real_flavour] = fake_flavour
        method, path, headers, body = REQUESTS[0]
        overridden = await _send(app, method, path, {**headers, "x-flavour": "y"}, body)
        missing = await _send(app, method, path, headers, body)
        app.dependency_overrides.clear()
        outcomes.append((plain, overridden, missing))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][1]["seen"][-1] == "real"
    assert outcomes[0][1][1]["seen"][-1] == "fake-y"
    assert outcomes[0][2][0] == 422  # the override's own header, validated


def test_the_sale_routes_are_lean() -> None:
    """The hold and the booking (and most routes) run the lean handler: a change in
    FastAPI that sent them back to the stock one would show here, not only in a bench."""
    app = create_app()
    served = {}
    for branch in app.router.routes:
        for context in getattr(branch, "effective_route_contexts", lambda: [])():
            served[(context.path, frozenset(context.methods))] = _is_lean(context.app)
    assert served[("/api/bookings/hold-seats", frozenset({"POST"}))]
    assert served[("/api/bookings/create", frozenset({"POST"}))]
    assert served[("/api/users/me", frozenset({"GET"}))]
    assert sum(served.values()) > len(served) / 2


def _is_lean(app: Any, depth: int = 0) -> bool:
    """Whether a route's ASGI app (FastAPI's wrappers around a handler) ends in `_Lean`."""
    if isinstance(getattr(app, "__self__", None), _Lean):
        return True
    closure = getattr(app, "__closure__", None) or ()
    return depth < 4 and any(
        callable(cell.cell_contents) and _is_lean(cell.cell_contents, depth + 1) for cell in closure
    )


def test_every_router_builds_lean_routes() -> None:
    """The convention (`docs/conventions.md`): a router made without `LeanRoute` would
    still work, only slower, so nothing else would notice."""
    assert all(router.route_class is LeanRoute for router in ROUTERS)


def _exits_app(route_class: type[APIRoute], log: list[str], entered: Any) -> FastAPI:
    """A generator dependency whose exit awaits (and may fail), for the exit's own rules."""
    router = APIRouter(route_class=route_class)

    async def tx(request: Request) -> AsyncIterator[str]:
        try:
            yield "tx"
        except BaseException as exc:
            await asyncio.sleep(0)  # a cancelled request still finishes its rollback
            log.append(f"rollback:{type(exc).__name__}")
            raise
        await asyncio.sleep(0)
        if request.headers.get("x-fail") == "commit":
            log.append("commit failed")
            raise RuntimeError("commit failed")
        log.append("commit")

    @router.post("/work")
    async def work(
        tx: Annotated[str, Depends(tx, scope="function")],
        x_fail: Annotated[str | None, Header()] = None,
    ) -> dict[str, str]:
        if x_fail == "wait":
            entered.set()
            await asyncio.sleep(60)
        if x_fail == "handler":
            raise HTTPException(409, "refused")
        return {"tx": tx}

    app = FastAPI()
    app.include_router(router)
    return app


async def test_generator_exits_as_in_fastapi() -> None:
    """Commit, a failing commit, a refused handler and a cancelled request leave a generator
    dependency as FastAPI leaves it (the rollback of a cancelled one still runs)."""
    outcomes = []
    for route_class in (APIRoute, LeanRoute):
        log: list[str] = []
        entered = asyncio.Event()
        app = _exits_app(route_class, log, entered)
        seen: list[Any] = [await _send(app, "POST", "/work", {}, None)]
        seen.append(await _send(app, "POST", "/work", {"x-fail": "handler"}, None))
        with pytest.raises(RuntimeError) as raised:
            await _send(app, "POST", "/work", {"x-fail": "commit"}, None)
        seen.append(str(raised.value))
        task = asyncio.ensure_future(_send(app, "POST", "/work", {"x-fail": "wait"}, None))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        outcomes.append((seen, log))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == [
        "commit",
        "rollback:HTTPException",
        "commit failed",
        "rollback:CancelledError",
    ]
