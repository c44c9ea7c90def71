import asyncio
import json
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
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


@dataclass
class Watcher:
    """A client of the stream, driven through ASGI: what it received, and how to hang up."""

    chunks: asyncio.Queue[bytes]
    hang_up: asyncio.Event
    task: asyncio.Task[None]

    async def close(self) -> None:
        self.hang_up.set()
        await asyncio.wait_for(self.task, timeout=10)


def _watch(app: FastAPI, path: str) -> Watcher:
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    hang_up = asyncio.Event()
    started = False

    async def receive() -> dict[str, Any]:
        nonlocal started
        if not started:
            started = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            await chunks.put(message["body"])

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
    return Watcher(chunks, hang_up, asyncio.create_task(app(scope, receive, send)))


class TestSeatStream:
    async def test_pushes_seat_changes_to_watching_clients(
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
        path = f"/api/showtimes/{world.showtime.id}/seats/stream"
        watchers = [_watch(committing_app, path) for _ in range(3)]
        try:
            hellos = [await _next_event(w.chunks, "hello") for w in watchers]
            held = await committing_client.post(
                "/api/bookings/hold-seats",
                json={"showtime_id": str(world.showtime.id), "seat_ids": [world.seats[2].id]},
                headers=auth_headers(buyer),
            )
            assert held.status_code == 201
            changes = [await _next_event(w.chunks, "seats") for w in watchers]
            released = await committing_client.post(
                "/api/bookings/release-seats",
                json={"hold_id": held.json()["id"]},
                headers=auth_headers(buyer),
            )
            assert released.status_code == 200, released.json()
            back = [await _next_event(w.chunks, "seats") for w in watchers]
        finally:
            for watcher in watchers:
                await watcher.close()

        unit_id = held.json()["units"][0]["unit_id"]
        assert changes[0]["version"] > hellos[0]["version"]
        # Each watcher is told the same, worked out once for all who saw the same state.
        assert (
            changes
            == [
                {
                    "version": changes[0]["version"],
                    "changes": [{"unit_id": unit_id, "status": "held"}],
                }
            ]
            * 3
        )
        assert [b["changes"] for b in back] == [[{"unit_id": unit_id, "status": "available"}]] * 3
