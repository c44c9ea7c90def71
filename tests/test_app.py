import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.app import create_app
from boxoffice.auth.models import Role
from boxoffice.auth.security import create_access_token
from boxoffice.config import DatabaseSettings, Settings
from boxoffice.db import driver
from boxoffice.db.engine import (
    Transaction,
    create_engine,
    create_sessionmaker,
    plain_url,
)
from boxoffice.kit.errors import Conflict
from tests.conftest import _admin_execute
from tests.factories import bearer, create_user


class _Body(BaseModel):
    quantity: int


def _add_probe_routes(app: FastAPI) -> None:
    @app.post("/api/_probe")
    async def probe(body: _Body) -> dict[str, int]:
        if body.quantity == 13:
            raise Conflict("thirteen is taken", extra={"taken": [13]})
        if body.quantity == 99:
            raise RuntimeError("boom")
        if body.quantity == 40:
            # What a plain asyncpg statement (db.driver) raises when it loses a deadlock.
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        if body.quantity == 41:
            # What SQLAlchemy's asyncpg adapter raises where db.driver begins a transaction
            # and the server has cancelled the connection's statement.
            cause = asyncpg.QueryCanceledError("canceling statement due to statement timeout")
            raise AsyncAdapt_asyncpg_dbapi.Error(str(cause), cause) from cause  # type: ignore[no-untyped-call]
        return {"quantity": body.quantity}


class TestHealth:
    async def test_health_answers_ok(self, client: AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_ready_reports_database_at_head(self, client: AsyncClient) -> None:
        response = await client.get("/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "migrations": "head"}


class TestRequestId:
    async def test_a_request_id_is_made_when_none_is_sent(self, client: AsyncClient) -> None:
        response = await client.get("/health")
        assert len(response.headers["x-request-id"]) == 32

    async def test_a_sent_request_id_is_echoed(self, client: AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_an_unsafe_request_id_is_replaced(self, client: AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
        assert response.headers["x-request-id"] != "bad id\twith spaces"


class TestProblemResponses:
    async def test_unknown_path_is_problem_404(self, client: AsyncClient) -> None:
        response = await client.get("/api/no-such-thing")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "not_found"
        assert body["status"] == 404
        assert body["instance"] == "/api/no-such-thing"
        assert body["request_id"] == response.headers["x-request-id"]

    async def test_wrong_method_is_problem_405(self, client: AsyncClient) -> None:
        response = await client.delete("/api/events")
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "method_not_allowed"
        # Every method the path serves (two routes here), not only the first route's.
        assert response.headers["allow"] == "GET, POST"

    async def test_a_named_resource_without_the_method_is_405_not_a_bad_id(
        self, client: AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        # `/api/bookings/{booking_id}` also matches the path, with a GET; the path is the
        # POST-only `/api/bookings/create`, not a booking with a malformed id.
        headers = bearer(settings, await create_user(session))
        named = await client.get("/api/bookings/create", headers=headers)
        options = await client.options("/api/bookings/create", headers=headers)
        admin = bearer(settings, await create_user(session, role=Role.admin))
        with_body = await client.put("/api/events/search", json={"x": 1}, headers=admin)
        not_an_id = await client.get("/api/bookings/not-a-booking-id", headers=headers)
        # Two paths with parameters: `.../check-ins/manifest` names it, not `.../{ticket_id}`.
        manifest = await client.options(
            f"/api/showtimes/{uuid.uuid4()}/check-ins/manifest", headers=admin
        )

        assert named.status_code == 405
        assert named.headers["allow"] == "POST"
        assert options.status_code == 405
        assert options.headers["allow"] == "POST"  # not the GET of /api/bookings/{id}
        assert with_body.status_code == 405
        assert with_body.headers["allow"] == "GET"
        assert named.json()["code"] == "method_not_allowed"
        assert manifest.status_code == 405
        assert manifest.headers["allow"] == "GET"
        assert not_an_id.status_code == 422
        assert not_an_id.json()["code"] == "validation_error"

    async def test_bad_query_is_problem_422_with_field_errors(self, client: AsyncClient) -> None:
        response = await client.get("/api/events", params={"limit": "lots"})
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["loc"] == ["query", "limit"]

    async def test_malformed_json_is_problem_400(self, app: FastAPI, client: AsyncClient) -> None:
        _add_probe_routes(app)
        response = await client.post(
            "/api/_probe", content=b'{"quantity": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "malformed_json"

    async def test_wrong_body_type_is_problem_422(self, app: FastAPI, client: AsyncClient) -> None:
        _add_probe_routes(app)
        response = await client.post("/api/_probe", json={"quantity": "many"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "quantity"]

    async def test_domain_error_keeps_its_code_and_extras(
        self, app: FastAPI, client: AsyncClient
    ) -> None:
        _add_probe_routes(app)
        response = await client.post("/api/_probe", json={"quantity": 13})
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "conflict"
        assert body["detail"] == "thirteen is taken"
        assert body["taken"] == [13]

    @pytest.mark.parametrize(
        ("quantity", "status", "code"),
        [
            (40, 409, "serialization_conflict"),  # asyncpg's own error (db.driver)
            (41, 503, "timeout"),  # SQLAlchemy's asyncpg adapter's, raised from asyncpg's
        ],
    )
    async def test_a_database_error_is_mapped_by_the_sqlstate_behind_it(
        self, app: FastAPI, client: AsyncClient, quantity: int, status: int, code: str
    ) -> None:
        _add_probe_routes(app)
        response = await client.post("/api/_probe", json={"quantity": quantity})
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code

    async def test_unexpected_error_is_problem_500_without_internals(self, app: FastAPI) -> None:
        _add_probe_routes(app)
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as c:
            response = await c.post("/api/_probe", json={"quantity": 99})
        assert response.status_code == 500
        body = response.json()
        assert body["code"] == "internal_error"
        assert "boom" not in response.text


class TestOpenApi:
    async def test_errors_are_documented_as_problem_json(self, client: AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        assert "Problem" in schema["components"]["schemas"]
        responses = schema["paths"]["/api/events"]["get"]["responses"]
        assert "application/problem+json" in responses["422"]["content"]
        assert "application/problem+json" in responses["default"]["content"]

    async def test_integer_bounds_are_the_exact_integers_the_api_enforces(
        self, client: AsyncClient
    ) -> None:
        # Read with exact decimals: a plain JSON reader makes 2**63 - 1 and 2**63 one float.
        raw = (await client.get("/openapi.json")).text
        schema = json.loads(raw, parse_float=Decimal)
        seat_ids = schema["components"]["schemas"]["SeatAssignment"]["properties"]["seat_ids"]
        assert seat_ids["items"]["maximum"] == 2**63 - 1  # BIGINT, not the float 2**63
        bounds: list[object] = []

        def walk(node: object) -> None:
            if isinstance(node, dict):
                if node.get("type") == "integer":
                    bounds.extend(node[k] for k in ("minimum", "maximum") if k in node)
                for child in node.values():
                    walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(schema)
        assert len(bounds) > 50
        assert [b for b in bounds if not isinstance(b, int)] == []

    async def test_sign_in_is_optional_where_anyone_is_served(self, client: AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        paths = schema["paths"]
        optional: list[dict[str, list[str]]] = [{}, {"HTTPBearer": []}]

        assert paths["/api/events/{event_id}"]["get"]["security"] == optional
        assert paths["/api/events/by-location"]["get"]["security"] == optional
        assert paths["/api/users/me"]["get"]["security"] == [{"HTTPBearer": []}]
        assert list(schema["components"]["securitySchemes"]) == ["HTTPBearer"]
        assert "HTTPBearerOptional" not in json.dumps(paths)

    async def test_docs_page_is_served(self, client: AsyncClient) -> None:
        response = await client.get("/docs")
        assert response.status_code == 200
        assert "swagger" in response.text.lower()


@asynccontextmanager
async def _app_on(settings: Settings, url: str) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """The real app (its own engine, real sessions, no overrides) on the database at `url`."""
    configured = settings.model_copy(
        update={"database": DatabaseSettings(url=url, pool_size=2, pool_timeout=2)}
    )
    app = create_app(configured)
    engine = create_engine(url, configured.database)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client
    finally:
        await engine.dispose()


class TestReadinessWithoutDatabase:
    async def test_ready_is_503_when_the_database_is_unreachable(self, settings: Settings) -> None:
        async with _app_on(settings, "postgresql://nobody@127.0.0.1:1/none") as (_, client):
            response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"


def _assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "database_unavailable"


class TestDatabaseUnavailable:
    """A database that refuses, cannot be reached or drops the connection is a 503 the client
    may retry (`database_unavailable`, `Retry-After`), never a 500."""

    async def test_an_unreachable_server_is_503(self, settings: Settings) -> None:
        async with _app_on(settings, "postgresql://nobody@127.0.0.1:1/none") as (_, client):
            _assert_unavailable(await client.get("/api/events"))
            token = create_access_token(
                settings.auth, user_id=uuid.uuid4(), role=Role.buyer, token_version=0
            )
            hold = await client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(uuid.uuid4()), "quantity": 2},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"},
            )
            _assert_unavailable(hold)

    async def test_a_server_refusing_more_connections_is_503(
        self, settings: Settings, server_url: str
    ) -> None:
        # A role allowed no connections: PostgreSQL's own `too many connections` (53300),
        # as when max_connections is exhausted.
        role = f"boxoffice_full_{uuid.uuid4().hex[:8]}"
        await _admin_execute(server_url, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        try:
            assert settings.database.url
            url = make_url(plain_url(settings.database.url)).set(username=role, password=None)
            async with _app_on(settings, url.render_as_string(hide_password=False)) as (_, c):
                _assert_unavailable(await c.get("/api/events"))
        finally:
            await _admin_execute(server_url, f'DROP ROLE IF EXISTS "{role}"')

    @pytest.mark.parametrize("path", ["orm", "driver", "plain_first", "plain_then_orm"])
    async def test_a_connection_dropped_mid_request_is_503_and_the_next_request_works(
        self, settings: Settings, path: str
    ) -> None:
        assert settings.database.url
        async with _app_on(settings, settings.database.url) as (app, client):

            @app.get("/api/_drop")
            async def drop(tx: Transaction) -> dict[str, int]:
                # The server ends this request's backend (a restart, a failover, an
                # operator's pg_terminate_backend) before its next statement. The request
                # began with the ORM session, or with a plain statement (`Tx.begin_plain`:
                # the pool's connection without SQLAlchemy's `Connection`).
                pid_sql = "SELECT pg_backend_pid() AS pid"
                if path.startswith("plain"):
                    pid = (await driver.fetch(tx, driver.Sql(pid_sql), {}))[0]["pid"]
                else:
                    pid = (await tx.session.execute(text(pid_sql))).scalar_one()
                await _admin_execute(
                    settings.database.url or "", f"SELECT pg_terminate_backend({pid})"
                )
                if path in ("orm", "plain_then_orm"):
                    await tx.session.execute(text("SELECT 1"))
                else:
                    await driver.fetch(tx, driver.Sql("SELECT 1"), {})
                return {"pid": pid}

            _assert_unavailable(await client.get("/api/_drop"))
            assert (await client.get("/ready")).status_code == 200
            assert (await client.get("/api/events")).status_code == 200
