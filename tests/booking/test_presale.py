"""Presales: before the general sale, only buyers with an access code hold seats."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.kit.time import utcnow
from tests.booking.factories import World, create_world
from tests.factories import create_user

Headers = Callable[[User], dict[str, str]]


async def _presale(
    client: AsyncClient,
    session: AsyncSession,
    auth_headers: Headers,
    *,
    opened: timedelta = timedelta(hours=1),
) -> World:
    """A showtime whose presale opened `opened` ago (negative: opens later) and whose
    general sale opens tomorrow, set through the API by its organizer."""
    world = await create_world(session, price_minor=2500)
    now = utcnow()
    changed = await client.put(
        f"/api/events/{world.event.id}",
        json={
            "sale_starts_at": (now + timedelta(days=1)).isoformat(),
            "presale_starts_at": (now - opened).isoformat(),
            "presale_codes": ["FanClub26", "radio-1"],
        },
        headers=auth_headers(world.organizer),
    )
    assert changed.status_code == 200, changed.text
    return world


async def _hold(
    client: AsyncClient, world: World, buyer: User, auth_headers: Headers, **body: Any
) -> Any:
    return await client.post(
        "/api/bookings/hold-seats",
        json={"showtime_id": str(world.showtime.id), "quantity": 2, **body},
        headers=auth_headers(buyer),
    )


class TestPresale:
    async def test_only_buyers_with_a_code_hold_seats_during_the_presale(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await _presale(client, session, auth_headers)
        buyer = await create_user(session)

        without = await _hold(client, world, buyer, auth_headers)
        wrong = await _hold(client, world, buyer, auth_headers, access_code="GUESS")
        right = await _hold(client, world, buyer, auth_headers, access_code="fanclub26")
        one_call = await client.post(
            "/api/bookings",
            json={"showtime_id": str(world.showtime.id), "quantity": 1, "access_code": "RADIO-1"},
            headers=auth_headers(await create_user(session)),
        )

        assert (without.status_code, without.json()["code"]) == (403, "presale_code_required")
        assert "sale_starts_at" in without.json()
        assert (wrong.status_code, wrong.json()["code"]) == (403, "presale_code_invalid")
        assert right.status_code == 201, right.json()
        assert right.json()["quantity"] == 2
        assert one_call.status_code == 201, one_call.json()
        assert one_call.json()["status"] == "pending_payment"

    async def test_the_event_shows_the_presale_but_never_its_codes(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await _presale(client, session, auth_headers)

        for who in (await create_user(session), world.organizer):
            detail = await client.get(f"/api/events/{world.event.id}", headers=auth_headers(who))
            assert detail.json()["presale_starts_at"] is not None
            assert "presale_codes" not in detail.json()
            assert "FANCLUB26" not in detail.text.upper()

    async def test_those_who_manage_the_event_read_its_codes_and_nobody_else(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await _presale(client, session, auth_headers)
        path = f"/api/events/{world.event.id}/presale"

        mine = await client.get(path, headers=auth_headers(world.organizer))
        buyer = await client.get(path, headers=auth_headers(await create_user(session)))
        other = await client.get(
            path, headers=auth_headers(await create_user(session, role=Role.organizer))
        )

        assert mine.status_code == 200, mine.json()
        assert mine.json()["presale_codes"] == ["FANCLUB26", "RADIO-1"]
        assert mine.json()["presale_starts_at"] is not None
        assert mine.json()["sale_starts_at"] is not None
        assert buyer.status_code == 403
        assert (other.status_code, other.json()["code"]) == (403, "not_event_owner")

    async def test_before_the_presale_nobody_buys_and_after_it_nobody_needs_a_code(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await _presale(client, session, auth_headers, opened=-timedelta(hours=1))
        buyer = await create_user(session)

        early = await _hold(client, world, buyer, auth_headers, access_code="FANCLUB26")
        assert (early.status_code, early.json()["code"]) == (403, "sales_closed")
        assert early.json()["presale_starts_at"] is not None

        world.event.presale_starts_at = utcnow() - timedelta(days=2)
        world.event.sale_starts_at = utcnow() - timedelta(days=1)
        await session.flush()
        general = await _hold(client, world, buyer, auth_headers)
        assert general.status_code == 201, general.json()

    async def test_the_waitlist_opens_with_the_general_sale(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await _presale(client, session, auth_headers)

        joined = await client.post(
            "/api/waitlists",
            json={"showtime_id": str(world.showtime.id), "quantity": 1},
            headers=auth_headers(await create_user(session)),
        )

        assert (joined.status_code, joined.json()["code"]) == (403, "presale_code_required")

    async def test_a_presale_that_could_not_work_is_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=2500)
        organizer = auth_headers(world.organizer)
        now = utcnow()
        later, sooner = (now + timedelta(days=2)).isoformat(), (now + timedelta(days=1)).isoformat()

        no_codes = await client.put(
            f"/api/events/{world.event.id}",
            json={"sale_starts_at": later, "presale_starts_at": sooner},
            headers=organizer,
        )
        after_sale = await client.put(
            f"/api/events/{world.event.id}",
            json={"sale_starts_at": sooner, "presale_starts_at": later, "presale_codes": ["ABC"]},
            headers=organizer,
        )
        bad_code = await client.put(
            f"/api/events/{world.event.id}",
            json={"presale_codes": ["no spaces"]},
            headers=organizer,
        )
        created = await client.post(
            "/api/events",
            json={"title": "Presale", "event_type": "music", "presale_starts_at": sooner},
            headers=organizer,
        )

        assert (no_codes.status_code, no_codes.json()["code"]) == (422, "presale_invalid")
        assert (after_sale.status_code, after_sale.json()["code"]) == (422, "presale_invalid")
        assert (bad_code.status_code, bad_code.json()["code"]) == (422, "validation_error")
        assert (created.status_code, created.json()["code"]) == (422, "validation_error")
        await session.refresh(world.event)
        assert world.event.presale_starts_at is None
        assert world.event.presale_codes == []
