from collections.abc import Callable
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import Showtime, ShowtimeStatus
from boxoffice.inventory.models import InventoryUnit, UnitState
from boxoffice.kit.outbox import OutboxEvent
from boxoffice.kit.time import utcnow
from tests.catalog.helpers import make_event, make_venue, soon, tiers
from tests.factories import create_city, create_user

Headers = Callable[[User], dict[str, str]]


class TestEventLifecycle:
    async def test_draft_is_invisible_to_buyers_until_published(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue, publish=False)
        url = f"/api/events/{event['id']}"

        anonymous = await client.get(url)
        as_buyer = await client.get(url, headers=auth_headers(buyer))
        as_owner = await client.get(url, headers=auth_headers(organizer))
        listed = (await client.get("/api/events")).json()
        searched = (await client.get("/api/events/search", params={"q": "jazz"})).json()
        published = await client.post(f"{url}/publish", headers=auth_headers(organizer))
        after = await client.get(url)

        assert anonymous.status_code == 404
        assert as_buyer.status_code == 404
        assert as_buyer.json()["code"] == "event_not_found"
        assert as_owner.json()["status"] == "draft"
        assert listed["total"] == 0
        assert searched["total"] == 0
        assert published.json()["status"] == "published"
        assert after.status_code == 200

    async def test_publishing_needs_a_showtime(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        created = await client.post(
            "/api/events", json={"title": "Nothing yet"}, headers=auth_headers(organizer)
        )
        response = await client.post(
            f"/api/events/{created.json()['id']}/publish", headers=auth_headers(organizer)
        )
        assert response.status_code == 409
        assert response.json()["code"] == "event_has_no_showtimes"

    async def test_publishing_twice_is_an_illegal_transition(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)
        response = await client.post(
            f"/api/events/{event['id']}/publish", headers=auth_headers(organizer)
        )
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_status_transition"

    async def test_another_organizer_cannot_edit_publish_or_cancel(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(owner), await create_city(session))
        event = await make_event(client, auth_headers(owner), venue)
        url = f"/api/events/{event['id']}"

        edit = await client.put(url, json={"title": "Hijacked"}, headers=auth_headers(other))
        cancel = await client.post(f"{url}/cancel", headers=auth_headers(other))
        delete = await client.delete(url, headers=auth_headers(other))

        assert [r.status_code for r in (edit, cancel, delete)] == [403, 403, 403]
        assert edit.json()["code"] == "not_event_owner"
        assert (await client.get(url)).json()["title"] == "Jazz Night"

    async def test_a_buyer_cannot_create_events(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        response = await client.post(
            "/api/events", json={"title": "X"}, headers=auth_headers(buyer)
        )
        assert response.status_code == 403

    async def test_the_owner_edits_details(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)

        response = await client.put(
            f"/api/events/{event['id']}",
            json={"title": "Jazz Night II", "metadata": {"age_limit": 18}},
            headers=auth_headers(organizer),
        )

        assert response.status_code == 200
        assert response.json()["title"] == "Jazz Night II"
        assert response.json()["metadata"] == {"age_limit": 18}
        assert response.json()["description"] == "Live jazz"

    async def test_cancelling_cancels_showtimes_and_emits_a_domain_event(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue, days=(3, 4))

        response = await client.post(
            f"/api/events/{event['id']}/cancel", headers=auth_headers(organizer)
        )

        assert response.json()["status"] == "cancelled"
        statuses = (
            await session.scalars(select(Showtime.status).where(Showtime.event_id == event["id"]))
        ).all()
        assert statuses == [ShowtimeStatus.cancelled, ShowtimeStatus.cancelled]
        outbox = await session.scalar(
            select(OutboxEvent).where(
                OutboxEvent.topic == "event.cancelled", OutboxEvent.aggregate_id == event["id"]
            )
        )
        assert outbox is not None
        assert len(outbox.payload["showtime_ids"]) == 2
        assert (await client.get("/api/events")).json()["total"] == 0
        edit = await client.put(
            f"/api/events/{event['id']}", json={"title": "Back"}, headers=auth_headers(organizer)
        )
        assert edit.json()["code"] == "event_cancelled"


class TestDeleteEvent:
    async def test_deletes_an_event_nothing_was_sold_for(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)

        response = await client.delete(
            f"/api/events/{event['id']}", headers=auth_headers(organizer)
        )

        assert response.status_code == 204
        assert (await client.get(f"/api/events/{event['id']}")).status_code == 404

    async def test_refuses_when_tickets_were_sold(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)
        showtime_id = event["showtimes"][0]["id"]
        unit = await session.scalar(
            select(InventoryUnit).where(InventoryUnit.showtime_id == showtime_id).limit(1)
        )
        assert unit is not None
        unit.state = UnitState.sold
        await session.flush()

        response = await client.delete(
            f"/api/events/{event['id']}", headers=auth_headers(organizer)
        )

        assert response.status_code == 409
        assert response.json()["code"] == "event_has_sales"


class TestShowtimes:
    async def test_showtime_snapshots_every_place_with_tier_prices(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)

        showtime = event["showtimes"][0]

        assert showtime["units"] == 60
        assert showtime["available"] == 60
        assert {t["section_name"]: t["price_minor"] for t in showtime["price_tiers"]} == {
            "Stalls": 5000,
            "Standing": 2500,
        }
        units = await session.scalar(
            select(func.count()).where(InventoryUnit.showtime_id == showtime["id"])
        )
        assert units == 60
        assert event["lowest_price"] == {"amount_minor": 2500, "currency": "USD"}
        assert event["availability"] == {"units": 60, "available": 60}

    async def test_times_without_offset_are_the_venues_wall_clock(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        city = await create_city(session, timezone="Asia/Kolkata")
        venue = await make_venue(client, auth_headers(organizer), city)
        event = await make_event(client, auth_headers(organizer), venue, days=(), publish=False)
        local = soon(10).replace(tzinfo=None)

        response = await client.post(
            f"/api/events/{event['id']}/showtimes",
            json={
                "venue_id": venue["id"],
                "starts_at": local.isoformat(),
                "ends_at": (local + timedelta(hours=3)).isoformat(),
                "price_tiers": tiers(venue),
            },
            headers=auth_headers(organizer),
        )

        body = response.json()
        assert body["timezone"] == "Asia/Kolkata"
        assert body["local_starts_at"].startswith(local.isoformat())
        assert body["local_starts_at"].endswith("+05:30")
        assert body["starts_at"].startswith((local - timedelta(hours=5, minutes=30)).isoformat())

    async def test_every_section_needs_exactly_one_tier(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue, days=(), publish=False)
        starts = soon(3)

        response = await client.post(
            f"/api/events/{event['id']}/showtimes",
            json={
                "venue_id": venue["id"],
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "price_tiers": tiers(venue)[:1],
            },
            headers=auth_headers(organizer),
        )

        assert response.status_code == 422
        assert response.json()["code"] == "invalid_price_tiers"

    async def test_ends_before_start_is_a_validation_error(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue, days=(), publish=False)
        starts = soon(3)

        response = await client.post(
            f"/api/events/{event['id']}/showtimes",
            json={
                "venue_id": venue["id"],
                "starts_at": starts.isoformat(),
                "ends_at": (starts - timedelta(hours=2)).isoformat(),
                "price_tiers": tiers(venue),
            },
            headers=auth_headers(organizer),
        )

        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    async def test_later_venue_edits_leave_the_snapshot_alone(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)
        await client.post(
            f"/api/venues/{venue['id']}/sections",
            json={"name": "Boxes", "kind": "general_admission", "capacity": 8},
            headers=auth_headers(organizer),
        )

        showtime = (await client.get(f"/api/showtimes/{event['showtimes'][0]['id']}")).json()

        assert showtime["units"] == 60


class TestCancelShowtime:
    async def test_cancels_one_showtime_and_emits_a_domain_event(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue, days=(3, 4))
        first = event["showtimes"][0]["id"]
        url = f"/api/showtimes/{first}/cancel"

        not_theirs = await client.post(url, headers=auth_headers(other))
        cancelled = await client.post(url, headers=auth_headers(organizer))
        again = await client.post(url, headers=auth_headers(organizer))
        detail = (await client.get(f"/api/events/{event['id']}")).json()

        assert not_theirs.status_code == 403
        assert cancelled.json()["status"] == "cancelled"
        assert again.json()["code"] == "invalid_status_transition"
        assert [s["id"] for s in detail["showtimes"]] == [event["showtimes"][1]["id"]]
        outbox = await session.scalar(
            select(OutboxEvent).where(
                OutboxEvent.topic == "showtime.cancelled", OutboxEvent.aggregate_id == first
            )
        )
        assert outbox is not None


class TestQuickForm:
    async def test_venue_name_times_and_total_seats_make_a_showtime(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        city = await create_city(session)
        body = {
            "name": "Exclusive Gala",
            "venue": "The Grand Hall",
            "city_id": str(city.id),
            "start_time": "2030-07-01T19:00:00",
            "end_time": "2030-07-01T23:00:00",
            "total_seats": 50,
        }

        response = await client.post("/api/events", json=body, headers=auth_headers(organizer))

        event = response.json()
        assert response.status_code == 201
        assert event["title"] == "Exclusive Gala"
        assert event["venues"] == ["The Grand Hall"]
        (showtime,) = event["showtimes"]
        assert showtime["units"] == 50
        assert showtime["local_starts_at"] == "2030-07-01T19:00:00-04:00"
        assert [t["section_name"] for t in showtime["price_tiers"]] == ["General"]

    async def test_a_partial_quick_form_is_a_validation_error(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        response = await client.post(
            "/api/events",
            json={"title": "Half", "venue": "Somewhere", "total_seats": 10},
            headers=auth_headers(organizer),
        )
        assert response.status_code == 422


class TestOwnEvents:
    async def test_mine_lists_own_drafts_and_cancelled_events_only(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        draft = await make_event(client, auth_headers(organizer), venue, publish=False)
        live = await make_event(client, auth_headers(organizer), venue, title="Live")
        await make_event(client, auth_headers(other), venue, title="Not mine")

        mine = (
            await client.get(
                "/api/events", params={"mine": "true"}, headers=auth_headers(organizer)
            )
        ).json()
        anonymous = await client.get("/api/events", params={"mine": "true"})
        buyer = await create_user(session)
        as_buyer = await client.get(
            "/api/events", params={"mine": "true"}, headers=auth_headers(buyer)
        )

        assert {e["id"] for e in mine["items"]} == {draft["id"], live["id"]}
        assert anonymous.status_code == 401
        assert as_buyer.status_code == 403


class TestAvailability:
    async def test_live_holds_and_sales_count_as_taken_expired_holds_as_free(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)
        showtime_id = event["showtimes"][0]["id"]
        units = (
            await session.scalars(
                select(InventoryUnit)
                .where(InventoryUnit.showtime_id == showtime_id)
                .order_by(InventoryUnit.id)
                .limit(3)
            )
        ).all()
        now = utcnow()
        units[0].state = UnitState.sold
        units[1].state, units[1].held_until = UnitState.held, now + timedelta(minutes=5)
        units[2].state, units[2].held_until = UnitState.held, now - timedelta(hours=1)
        await session.flush()

        body = (await client.get(f"/api/events/{event['id']}")).json()

        assert body["availability"] == {"units": 60, "available": 58}
        assert body["showtimes"][0]["available"] == 58

    async def test_an_expired_hold_does_not_lock_the_layout(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await make_venue(client, auth_headers(organizer), await create_city(session))
        event = await make_event(client, auth_headers(organizer), venue)
        unit = await session.scalar(
            select(InventoryUnit)
            .where(InventoryUnit.showtime_id == event["showtimes"][0]["id"])
            .limit(1)
        )
        assert unit is not None
        section = {"name": "Boxes", "kind": "general_admission", "capacity": 4}
        url = f"/api/venues/{venue['id']}/sections"

        unit.state, unit.held_until = UnitState.held, utcnow() - timedelta(hours=1)
        await session.flush()
        expired = await client.post(url, json=section, headers=auth_headers(organizer))
        unit.held_until = utcnow() + timedelta(minutes=10)
        await session.flush()
        live = await client.post(
            url, json={**section, "name": "Boxes 2"}, headers=auth_headers(organizer)
        )

        assert expired.status_code == 201
        assert live.status_code == 409
        assert live.json()["code"] == "venue_layout_locked"


class TestRefundPolicy:
    async def test_organizer_sets_and_changes_the_refund_policy(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        created = await client.post(
            "/api/events",
            json={
                "title": "Policy test",
                "event_type": "music",
                "refund_cutoff_hours": 48,
                "refund_fee_percent_bp": 500,
            },
            headers=auth_headers(organizer),
        )
        event_id = created.json()["id"]
        updated = await client.put(
            f"/api/events/{event_id}",
            json={"refund_fee_fixed_minor": 150},
            headers=auth_headers(organizer),
        )
        detail = await client.get(f"/api/events/{event_id}", headers=auth_headers(organizer))

        assert created.status_code == 201, created.text
        assert updated.status_code == 200, updated.text
        policy = {k: v for k, v in detail.json().items() if k.startswith("refund_")}
        assert policy == {
            "refund_cutoff_hours": 48,
            "refund_fee_percent_bp": 500,
            "refund_fee_fixed_minor": 150,
        }

    async def test_a_negative_fee_is_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)

        response = await client.post(
            "/api/events",
            json={"title": "Bad", "event_type": "music", "refund_fee_fixed_minor": -1},
            headers=auth_headers(organizer),
        )

        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
