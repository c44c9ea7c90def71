"""GET /api/bookings/export.csv: the bookings a caller may see, one row per ticket."""

import csv
import io
from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from tests.booking.factories import create_world, free_booking
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]
URL = "/api/bookings/export.csv"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class TestExport:
    async def test_an_organizer_gets_their_events_tickets_one_row_each(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world, elsewhere = (
            await create_world(session, price_minor=0),
            await create_world(session, price_minor=0),
        )
        buyer = await create_user(session, full_name='=HYPERLINK("http://evil")')
        friend, other = await create_user(session), await create_user(session)
        booking = await free_booking(client, world, buyer, auth_headers, quantity=2)
        await free_booking(client, elsewhere, other, auth_headers, quantity=1)
        given = booking["tickets"][0]
        assert (
            await client.post(
                f"/api/tickets/{given['id']}/transfer",
                json={"to_email": friend.email},
                headers=auth_headers(buyer),
            )
        ).status_code == 200

        response = await client.get(URL, headers=auth_headers(world.organizer))

        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = _rows(response.text)
        assert [r["booking_id"] for r in rows] == [booking["id"]] * 2
        assert {r["booking_reference"] for r in rows} == {booking["reference"]}
        assert {r["ticket_id"] for r in rows} == {t["id"] for t in booking["tickets"]}
        assert {r["booking_status"] for r in rows} == {"confirmed"}
        assert rows[0]["buyer_email"] == buyer.email
        # A name a spreadsheet would run as a formula is written as text.
        assert rows[0]["buyer_name"] == '\'=HYPERLINK("http://evil")'
        holders = {r["ticket_id"]: r["holder_email"] for r in rows}
        assert holders[given["id"]] == friend.email
        assert holders[booking["tickets"][1]["id"]] == ""

    async def test_a_buyer_gets_their_own_and_filters_apply(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        buyer, other = await create_user(session), await create_user(session)
        mine = await free_booking(client, world, buyer, auth_headers, quantity=1)
        cancelled = await free_booking(client, world, buyer, auth_headers, quantity=1)
        await free_booking(client, world, other, auth_headers, quantity=1)
        await client.post(f"/api/bookings/{cancelled['id']}/cancel", headers=auth_headers(buyer))

        everything = _rows((await client.get(URL, headers=auth_headers(buyer))).text)
        confirmed = _rows(
            (
                await client.get(URL, params={"status": "confirmed"}, headers=auth_headers(buyer))
            ).text
        )

        assert {r["booking_id"] for r in everything} == {mine["id"], cancelled["id"]}
        assert [r["booking_id"] for r in confirmed] == [mine["id"]]

    async def test_an_admin_gets_everyones_and_anonymous_nothing(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        admin = await create_user(session, role=Role.admin)
        buyers = [await create_user(session) for _ in range(3)]
        for b in buyers:
            await free_booking(client, world, b, auth_headers, quantity=1)

        rows = _rows(
            (
                await client.get(
                    URL, params={"event_id": str(world.event.id)}, headers=auth_headers(admin)
                )
            ).text
        )
        anonymous = await client.get(URL)

        assert sorted(r["buyer_email"] for r in rows) == sorted(b.email for b in buyers)
        assert anonymous.status_code == 401

    async def test_more_rows_than_one_read_come_out_once_each_in_order(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        # 25 bookings of 10 tickets: 250 rows (read 500 at a time by default: here in one).
        world = await create_world(session, rows=25, seats_per_row=10, price_minor=0)
        buyer = await create_user(session)
        made = [
            await free_booking(client, world, buyer, auth_headers, quantity=10) for _ in range(25)
        ]

        rows = _rows((await client.get(URL, headers=auth_headers(world.organizer))).text)

        assert len(rows) == 250
        assert sorted(r["ticket_id"] for r in rows) == sorted(
            t["id"] for b in made for t in b["tickets"]
        )
        # Oldest first; made in one test transaction, they share a time: then by id, each
        # booking's tickets together.
        order = [r["booking_id"] for r in rows]
        assert list(dict.fromkeys(order)) == sorted(b["id"] for b in made)
        assert order == sorted(order)
