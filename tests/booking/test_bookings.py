from collections.abc import Callable
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.booking.tickets import verify_ticket_code
from boxoffice.config import Settings
from tests.booking.factories import World, create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _booked(
    client: AsyncClient, session: AsyncSession, auth_headers: Headers, **world: Any
) -> tuple[World, User, dict[str, Any]]:
    built = await create_world(session, **world)
    buyer = await create_user(session)
    response = await client.post(
        "/api/bookings",
        json={"showtime_id": str(built.showtime.id), "quantity": 2},
        headers=auth_headers(buyer),
    )
    assert response.status_code == 201, response.json()
    return built, buyer, response.json()


class TestCreate:
    async def test_from_a_hold_is_pending_and_priced(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=1250)
        buyer = await create_user(session)
        hold = await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "quantity": 3},
            headers=auth_headers(buyer),
        )
        created = await client.post(
            "/api/bookings/create", json={"hold_id": hold.json()["id"]}, headers=auth_headers(buyer)
        )
        assert created.status_code == 201
        booking = created.json()
        assert booking["status"] == "pending_payment"
        assert (booking["total_minor"], booking["currency"]) == (3750, "USD")
        assert len(booking["tickets"]) == 3
        assert all(t["code"] is None for t in booking["tickets"])
        # The answer, built from what was written, is the booking as it is read back.
        read = await client.get(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        assert read.json() == booking

    async def test_a_hold_books_once(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        hold = await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        body = {"hold_id": hold.json()["id"]}
        await client.post("/api/bookings/create", json=body, headers=auth_headers(buyer))
        again = await client.post("/api/bookings/create", json=body, headers=auth_headers(buyer))
        assert again.status_code == 409
        assert again.json()["code"] == "hold_not_active"

    async def test_an_expired_hold_cannot_be_booked(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        hold = await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        await session.execute(
            text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": hold.json()["id"]},
        )
        response = await client.post(
            "/api/bookings/create", json={"hold_id": hold.json()["id"]}, headers=auth_headers(buyer)
        )
        assert response.status_code == 410
        assert response.json()["code"] == "hold_expired"

    async def test_one_call_booking_by_event(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer = await create_user(session)
        response = await client.post(
            "/api/bookings",
            json={"event_id": str(world.event.id), "quantity": 2},
            headers=auth_headers(buyer),
        )
        assert response.status_code == 201
        assert response.json()["showtime_id"] == str(world.showtime.id)

    async def test_one_call_booking_when_sold_out(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=2)
        buyer = await create_user(session)
        response = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 3},
            headers=auth_headers(buyer),
        )
        assert response.status_code == 409
        assert response.json()["code"] == "sold_out"

    async def test_a_free_booking_confirms_itself(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers, settings: Settings
    ) -> None:
        _world, _buyer, booking = await _booked(client, session, auth_headers, price_minor=0)
        assert booking["status"] == "confirmed"
        for ticket in booking["tickets"]:
            assert ticket["status"] == "issued"
            assert verify_ticket_code(settings, ticket["code"], ticket["unit_id"]) is not None
            assert verify_ticket_code(settings, ticket["code"], ticket["unit_id"] + 1) is None


class TestConfirm:
    async def test_an_admin_issues_a_complimentary_booking(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, _buyer, booking = await _booked(client, session, auth_headers)
        admin = await create_user(session, role=Role.admin)
        response = await client.post(
            f"/api/bookings/{booking['id']}/confirm",
            headers={**auth_headers(admin), "If-Match": f'"{booking["version"]}"'},
        )
        assert response.status_code == 200
        confirmed = response.json()
        assert confirmed["status"] == "confirmed"
        assert confirmed["complimentary"] is True
        assert confirmed["version"] == booking["version"] + 1
        assert all(t["status"] == "issued" and t["code"] for t in confirmed["tickets"])

    async def test_a_buyer_cannot_confirm_an_unpaid_booking(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, buyer, booking = await _booked(client, session, auth_headers)
        response = await client.post(
            f"/api/bookings/{booking['id']}/confirm", headers=auth_headers(buyer)
        )
        assert response.status_code == 403

    async def test_a_stale_version_is_a_conflict(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, _buyer, booking = await _booked(client, session, auth_headers)
        admin = await create_user(session, role=Role.admin)
        response = await client.post(
            f"/api/bookings/{booking['id']}/confirm",
            json={"version": booking["version"] + 5},
            headers=auth_headers(admin),
        )
        assert response.status_code == 409
        assert response.json()["code"] == "booking_version_conflict"

    async def test_a_stale_if_match_is_a_failed_precondition(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, buyer, booking = await _booked(client, session, auth_headers)
        response = await client.post(
            f"/api/bookings/{booking['id']}/cancel",
            headers={**auth_headers(buyer), "If-Match": f'"{booking["version"] + 1}"'},
        )
        assert response.status_code == 412
        assert response.json()["code"] == "booking_version_conflict"


class TestCancel:
    async def test_cancel_puts_the_seats_back_and_keeps_the_booking(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _booked(client, session, auth_headers)
        response = await client.post(
            f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer)
        )
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        unit_ids = [t["unit_id"] for t in booking["tickets"]]
        other = await create_user(session)
        again = await client.post(
            "/api/bookings/hold-seats",
            json={"showtime_id": str(world.showtime.id), "unit_ids": unit_ids},
            headers=auth_headers(other),
        )
        assert again.status_code == 201
        kept = await client.get(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        assert kept.json()["status"] == "cancelled"

    async def test_delete_is_cancel_and_twice_is_illegal(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, buyer, booking = await _booked(client, session, auth_headers)
        first = await client.delete(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        assert first.json()["status"] == "cancelled"
        second = await client.delete(f"/api/bookings/{booking['id']}", headers=auth_headers(buyer))
        assert second.status_code == 409
        assert second.json()["code"] == "illegal_transition"

    async def test_someone_elses_booking_is_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, _buyer, booking = await _booked(client, session, auth_headers)
        stranger = await create_user(session)
        response = await client.post(
            f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(stranger)
        )
        assert response.status_code == 404


class TestListing:
    async def test_buyer_organizer_and_admin_see_what_they_may(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _booked(client, session, auth_headers)
        stranger = await create_user(session)
        admin = await create_user(session, role=Role.admin)
        other_organizer = await create_user(session, role=Role.organizer)

        async def ids(user: User, path: str = "/api/bookings") -> list[str]:
            response = await client.get(path, headers=auth_headers(user))
            return [b["id"] for b in response.json()["items"]]

        assert await ids(buyer) == [booking["id"]]
        assert await ids(buyer, "/api/users/me/bookings") == [booking["id"]]
        assert await ids(stranger) == []
        assert await ids(world.organizer) == [booking["id"]]
        assert await ids(other_organizer) == []
        assert booking["id"] in await ids(admin)
        assert await ids(admin, f"/api/users/{buyer.id}/bookings") == [booking["id"]]
        hidden = await client.get(f"/api/users/{buyer.id}/bookings", headers=auth_headers(stranger))
        assert hidden.status_code == 404
        seen = await client.get(
            f"/api/bookings/{booking['id']}", headers=auth_headers(world.organizer)
        )
        assert seen.status_code == 200
        unseen = await client.get(f"/api/bookings/{booking['id']}", headers=auth_headers(stranger))
        assert unseen.status_code == 404

    async def test_filters_and_pagination(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        _world, buyer, booking = await _booked(client, session, auth_headers)
        await client.post(f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer))
        page = await client.get(
            "/api/bookings", params={"status": "cancelled", "limit": 1}, headers=auth_headers(buyer)
        )
        assert page.json()["total"] == 1
        none = await client.get(
            "/api/bookings", params={"status": "confirmed"}, headers=auth_headers(buyer)
        )
        assert none.json()["total"] == 0

    async def test_the_reference_e_mails_give_finds_the_booking_for_who_may_see_it(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _booked(client, session, auth_headers)
        stranger = await create_user(session)
        # Another booking whose id shares the reference (8 hex digits collide at scale).
        twin = booking["id"][:8] + "-0000-4000-8000-000000000000"
        await session.execute(
            text(
                "INSERT INTO bookings (id, user_id, showtime_id, event_id, hold_id, status,"
                " quantity, total_minor, currency, expires_at, version, complimentary)"
                " SELECT CAST(:twin AS uuid), user_id, showtime_id, event_id, hold_id,"
                " 'cancelled', quantity, total_minor, currency, expires_at, 1, false"
                " FROM bookings WHERE id = CAST(:id AS uuid)"
            ),
            {"twin": twin, "id": booking["id"]},
        )
        ref = booking["reference"]
        other = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(buyer),
        )
        assert other.json()["reference"] != ref  # 1 in 4 billion it would not be

        def find(user: User, value: str) -> Any:
            return client.get(
                "/api/bookings", params={"reference": value}, headers=auth_headers(user)
            )

        mine = await find(buyer, ref.lower())
        theirs = await find(world.organizer, ref)
        nothing = await find(stranger, ref)
        bad = await find(buyer, "XYZ")

        assert ref == booking["id"].replace("-", "")[:8].upper()
        assert {b["id"] for b in mine.json()["items"]} == {booking["id"], twin}
        assert {b["reference"] for b in mine.json()["items"]} == {ref}
        assert theirs.json()["total"] == 2
        assert nothing.json()["total"] == 0
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")


class TestSeedSeatsPath:
    async def test_adds_seats_to_a_pending_booking(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _booked(client, session, auth_headers)
        free_seat = world.seats[-1].id
        response = await client.post(
            f"/api/bookings/{booking['id']}/seats",
            json={"seat_ids": [free_seat], "status": "locked"},
            headers=auth_headers(buyer),
        )
        assert response.status_code == 200
        assert response.json()["quantity"] == 3
        assert response.json()["total_minor"] == booking["total_minor"] * 3 // 2

    async def test_booked_without_payment_is_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, buyer, booking = await _booked(client, session, auth_headers)
        response = await client.post(
            f"/api/bookings/{booking['id']}/seats",
            json={"seat_ids": [world.seats[-1].id], "status": "booked"},
            headers=auth_headers(buyer),
        )
        assert response.status_code == 409
        assert response.json()["code"] == "booking_not_payable"
