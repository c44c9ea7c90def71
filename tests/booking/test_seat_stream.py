import asyncio
import json
from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import User
from boxoffice.config import BookingSettings, Settings
from tests.booking.factories import create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _next_event(chunks: asyncio.Queue[bytes], name: str) -> dict[str, Any]:
    while True:
        text = (await asyncio.wait_for(chunks.get(), timeout=10)).decode()
        if f"event: {name}\n" in text:
            data = text.split("data: ", 1)[1].strip()
            parsed: dict[str, Any] = json.loads(data)
            return parsed


class TestSeatStream:
    async def test_pushes_seat_changes_to_a_watching_client(
        self,
        committing_app: FastAPI,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        committing_app.state.settings = settings.model_copy(
            update={"booking": BookingSettings(seat_map_refresh_ms=0, stream_poll_ms=50)}
        )
        async with committed() as session:
            world = await create_world(session, rows=1, seats_per_row=4)
            buyer = await create_user(session)
            await session.commit()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()
        disconnect = asyncio.Event()
        started = False

        async def receive() -> dict[str, Any]:
            nonlocal started
            if not started:
                started = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                await chunks.put(message["body"])

        path = f"/api/showtimes/{world.showtime.id}/seats/stream"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 1234),
            "server": ("test", 80),
        }
        stream = asyncio.create_task(committing_app(scope, receive, send))
        try:
            hello = await _next_event(chunks, "hello")
            held = await committing_client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(world.showtime.id), "seat_ids": [world.seats[2].id]},
                headers=auth_headers(buyer),
            )
            assert held.status_code == 201
            change = await _next_event(chunks, "seats")
            assert change["version"] > hello["version"]
            assert change["changes"] == [
                {"unit_id": held.json()["units"][0]["unit_id"], "status": "held"}
            ]
        finally:
            disconnect.set()
            await asyncio.wait_for(stream, timeout=10)
