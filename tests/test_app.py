import asyncpg
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from boxoffice.app import create_app
from boxoffice.config import DatabaseSettings, Settings
from boxoffice.db.engine import create_engine, create_sessionmaker
from boxoffice.kit.errors import Conflict


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

    async def test_driver_error_is_mapped_by_its_sqlstate(
        self, app: FastAPI, client: AsyncClient
    ) -> None:
        _add_probe_routes(app)
        response = await client.post("/api/_probe", json={"quantity": 40})
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "serialization_conflict"

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

    async def test_docs_page_is_served(self, client: AsyncClient) -> None:
        response = await client.get("/docs")
        assert response.status_code == 200
        assert "swagger" in response.text.lower()


class TestReadinessWithoutDatabase:
    async def test_ready_is_503_when_the_database_is_unreachable(self, settings: Settings) -> None:
        unreachable = settings.model_copy(
            update={
                "database": DatabaseSettings(
                    url="postgresql://nobody@127.0.0.1:1/none", pool_timeout=2
                )
            }
        )
        assert unreachable.database.url
        app = create_app(unreachable)
        engine = create_engine(unreachable.database.url, unreachable.database)
        app.state.sessionmaker = create_sessionmaker(engine)
        try:
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://test") as c:
                response = await c.get("/ready")
        finally:
            await engine.dispose()
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
