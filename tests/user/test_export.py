"""GET /api/users/me/export: everything kept about the caller, and nothing about anyone else."""

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.config import Settings
from boxoffice.notification.models import Notification, NotificationKind
from boxoffice.payment.providers.sandbox import SandboxProvider
from tests.booking.factories import World, create_world
from tests.factories import configure, create_user
from tests.payment.conftest import sandbox  # noqa: F401 (fixture)

Headers = Callable[[User], dict[str, str]]


async def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _paid_booking(
    client: AsyncClient, headers: dict[str, str], world: World
) -> dict[str, Any]:
    booking = await _ok(
        await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 2},
            headers=headers,
        ),
        201,
    )
    started = await _ok(
        await client.post(
            "/api/payments/initiate", json={"booking_id": booking["id"]}, headers=headers
        ),
        201,
    )
    await _ok(
        await client.post(
            "/api/payments/confirm",
            json={"payment_id": started["payment"]["id"], "card_number": "4242424242424242"},
            headers=headers,
        )
    )
    return booking


class TestExport:
    async def test_every_part_of_the_callers_data_and_nobody_elses(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        sandbox: SandboxProvider,  # noqa: F811 (the fixture imported above)
    ) -> None:
        world = await create_world(session, price_minor=2500)
        me, friend, stranger = [await create_user(session) for _ in range(3)]
        mine, theirs = auth_headers(me), auth_headers(friend)
        booking = await _paid_booking(client, mine, world)
        await _paid_booking(client, auth_headers(stranger), world)
        given = await _paid_booking(client, theirs, world)
        await _ok(
            await client.post(
                f"/api/tickets/{given['tickets'][0]['id']}/transfer",
                json={"to_email": me.email},
                headers=theirs,
            )
        )
        offered = await _ok(
            await client.post(
                f"/api/tickets/{booking['tickets'][0]['id']}/transfer",
                json={"to_email": "not-yet-signed-up@example.com"},
                headers=mine,
            )
        )
        await _ok(
            await client.post(
                f"/api/events/{world.event.id}/reviews",
                json={"rating": 4, "body": "Good night out"},
                headers=mine,
            ),
            201,
        )
        await client.post(f"/api/organizers/{world.organizer.id}/follow", headers=mine)
        await client.post(f"/api/events/{world.event.id}/interest", headers=mine)
        await _ok(
            await client.post(
                "/api/location", json={"latitude": 51.5, "longitude": -0.12}, headers=mine
            )
        )
        await _ok(
            await client.put(
                "/api/users/me/notification-preferences",
                json={"channels": {"sale_started": {"email": False}}},
                headers=mine,
            )
        )
        session.add(
            Notification(
                user_id=me.id,
                kind=NotificationKind.announcement,
                title="Hello",
                body="Doors open at seven",
                data={},
                source_event_id=uuid.uuid4(),
            )
        )
        await session.flush()

        exported = await _ok(await client.get("/api/users/me/export", headers=mine))

        assert exported["user"]["id"] == str(me.id)
        assert exported["user"]["email"] == me.email
        assert [b["id"] for b in exported["bookings"]] == [booking["id"]]
        assert exported["bookings"][0]["status"] == "confirmed"
        # Two bought, one received: each with the code that gets in.
        assert len(exported["tickets"]) == 3
        assert all(t["code"] for t in exported["tickets"])
        [offer] = exported["ticket_offers"]
        assert (offer["id"], offer["to_email"], offer["status"]) == (
            offered["offer_id"],
            "not-yet-signed-up@example.com",
            "open",
        )
        [payment] = exported["payments"]
        assert payment["booking_id"] == booking["id"]
        assert payment["status"] == "succeeded"
        assert [r["body"] for r in exported["reviews"]] == ["Good night out"]
        assert [f["organizer_id"] for f in exported["following"]] == [str(world.organizer.id)]
        assert [i["event_id"] for i in exported["interests"]] == [str(world.event.id)]
        assert exported["location"]["latitude"] == 51.5
        assert exported["notification_preferences"]["channels"]["sale_started"]["email"] is False
        assert exported["waitlist_entries"] == []
        assert exported["linked_accounts"] == []
        assert [n["body"] for n in exported["notifications"]] == ["Doors open at seven"]
        assert exported["devices"] == []  # signed in by a test token, not a session

    async def test_an_admin_exports_their_own_data_not_everyones(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        sandbox: SandboxProvider,  # noqa: F811
    ) -> None:
        world = await create_world(session, price_minor=2500)
        admin, buyer = await create_user(session, role=Role.admin), await create_user(session)
        await _paid_booking(client, auth_headers(buyer), world)

        exported = await _ok(await client.get("/api/users/me/export", headers=auth_headers(admin)))

        assert exported["user"]["role"] == "admin"
        assert exported["bookings"] == []
        assert exported["payments"] == []
        assert exported["tickets"] == []

    async def test_the_audit_log_on_each_what_they_did_and_what_was_done_to_them(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        user, other = await create_user(session), await create_user(session)
        for target in (user, other):
            changed = await client.put(
                f"/api/users/{target.id}/role",
                json={"role": "organizer"},
                headers=auth_headers(admin),
            )
            assert changed.status_code == 200
        await session.refresh(user)

        mine = await _ok(await client.get("/api/users/me/export", headers=auth_headers(user)))
        theirs = await _ok(await client.get("/api/users/me/export", headers=auth_headers(admin)))

        assert [(e["action"], e["target_id"]) for e in mine["audit_entries"]] == [
            ("user.role_changed", str(user.id))
        ]
        assert [e["target_id"] for e in theirs["audit_entries"]] == [str(user.id), str(other.id)]
        assert {e["actor_id"] for e in theirs["audit_entries"]} == {str(admin.id)}

    async def test_more_than_a_page_of_each_is_exported_whole(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        # 105 bookings of one buyer in a few seconds: past the hold allowance.
        configure(app, settings, "booking", hold_attempts_per_minute=0)
        world = await create_world(session, price_minor=0, rows=12, seats_per_row=10)
        me = await create_user(session)
        for _ in range(105):
            await _ok(
                await client.post(
                    "/api/bookings",
                    json={"showtime_id": str(world.showtime.id), "quantity": 1},
                    headers=auth_headers(me),
                ),
                201,
            )

        exported = await _ok(await client.get("/api/users/me/export", headers=auth_headers(me)))

        assert len(exported["bookings"]) == 105
        assert len({b["id"] for b in exported["bookings"]}) == 105
        assert len(exported["tickets"]) == 105

    async def test_anonymous_is_401(self, client: AsyncClient) -> None:
        response = await client.get("/api/users/me/export")
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"


class TestAllowance:
    async def test_exports_share_an_hourly_allowance_per_account(
        self,
        app: FastAPI,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        settings: Settings,
    ) -> None:
        configure(app, settings, "http", exports_per_hour=2)
        me, other = await create_user(session), await create_user(session)

        statuses = [
            (await client.get("/api/users/me/export", headers=auth_headers(me))).status_code,
            (await client.get("/api/bookings/export.csv", headers=auth_headers(me))).status_code,
        ]
        refused = await client.get("/api/users/me/export", headers=auth_headers(me))
        theirs = await client.get("/api/bookings/export.csv", headers=auth_headers(other))

        assert statuses == [200, 200]
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "retry-after" in refused.headers
        assert theirs.status_code == 200
