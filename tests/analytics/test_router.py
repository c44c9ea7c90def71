from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.booking.models import BookingStatus
from boxoffice.catalog.models import Showtime, ShowtimeStatus
from boxoffice.inventory.models import UnitState
from boxoffice.kit.time import utcnow
from tests.analytics.factories import create_booking, set_unit_states
from tests.booking.factories import World, create_world
from tests.factories import create_showtime, create_user, create_venue

Headers = Callable[[User], dict[str, str]]
RANGE = {"from": "2026-03-01", "to": "2026-03-06"}


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@dataclass
class Scenario:
    admin: User
    buyer: User
    a: World
    b: World


@pytest.fixture
async def scenario(session: AsyncSession) -> Scenario:
    """Two organizers' events (10 units each) with bookings on 2026-03-01..05.

    Event A (USD): confirmed x2 (5000, 2500), cancelled after confirming, refunded, pending,
    and one confirmed booking before the range. Event B (EUR): confirmed 9000 (3 tickets),
    cancelled before confirming, expired.
    """
    admin = await create_user(session, role=Role.admin)
    buyer = await create_user(session)
    a = await create_world(session, rows=2, seats_per_row=5)
    b = await create_world(session, rows=2, seats_per_row=5)

    async def book(showtime: Showtime, status: BookingStatus, **kwargs: Any) -> None:
        await create_booking(session, buyer=buyer, showtime=showtime, status=status, **kwargs)

    confirmed, cancelled = BookingStatus.confirmed, BookingStatus.cancelled
    st_a, st_b = a.showtime, b.showtime
    await book(st_a, confirmed, created_at=at(1, 10), confirmed_at=at(1, 11), quantity=2,
               total_minor=5000)  # fmt: skip
    await book(st_a, confirmed, created_at=at(2), confirmed_at=at(3))
    await book(st_a, cancelled, created_at=at(2), confirmed_at=at(2), cancelled_at=at(4))
    await book(st_a, BookingStatus.pending_payment, created_at=at(5))
    await book(st_a, BookingStatus.refunded, created_at=at(3), confirmed_at=at(3))
    outside = datetime(2026, 2, 20, tzinfo=UTC)
    await book(st_a, confirmed, created_at=outside, confirmed_at=outside)
    await book(st_b, confirmed, created_at=at(1), confirmed_at=at(1, 13), quantity=3,
               total_minor=9000, currency="EUR")  # fmt: skip
    await book(st_b, cancelled, created_at=at(4, 1), cancelled_at=at(4, 2), currency="EUR")
    await book(st_b, BookingStatus.expired, created_at=at(4), currency="EUR")

    now = utcnow()
    await set_unit_states(
        session,
        st_a,
        [(UnitState.sold, None)] * 3
        + [(UnitState.held, now + timedelta(hours=1))] * 2
        + [(UnitState.held, now - timedelta(hours=1)), (UnitState.blocked, None)],
    )
    await set_unit_states(session, st_b, [(UnitState.sold, None)] * 5)
    # A cancelled showtime's units count nowhere.
    venue = await create_venue(session, organizer=b.organizer, rows=1, seats_per_row=4)
    gone = await create_showtime(session, event=b.event, venue=venue)
    gone.status = ShowtimeStatus.cancelled
    await set_unit_states(session, gone, [(UnitState.sold, None)] * 2)
    return Scenario(admin, buyer, a, b)


async def _get(client: AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get("/api/admin/analytics", params=params, headers=headers)
    assert response.status_code == 200, response.json()
    body: dict[str, Any] = response.json()
    return body


def _zero_day(day: str) -> dict[str, Any]:
    return {"day": day, "created": 0, "confirmed": 0, "cancelled": 0, "revenue": []}


class TestAdminAnalytics:
    async def test_totals_count_bookings_created_in_range(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(client, auth_headers(scenario.admin), **RANGE)
        assert body["scope"] == {
            "from": "2026-03-01",
            "to": "2026-03-06",
            "event_id": None,
            "organizer_id": None,
        }
        assert body["totals"] == {
            "bookings": 8,
            "bookings_by_status": {
                "pending_payment": 1,
                "confirmed": 3,
                "cancelled": 2,
                "refunded": 1,
                "expired": 1,
            },
            "tickets_sold": 6,
            "revenue": [
                {"currency": "EUR", "amount_minor": 9000},
                {"currency": "USD", "amount_minor": 7500},
            ],
            "booking_fees": [
                {"currency": "EUR", "amount_minor": 0},
                {"currency": "USD", "amount_minor": 0},
            ],
            "cancellation_rate": 0.3333,
        }

    async def test_daily_series_has_every_day_with_zeros(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(client, auth_headers(scenario.admin), **RANGE)
        assert body["daily"] == [
            {
                "day": "2026-03-01",
                "created": 2,
                "confirmed": 2,
                "cancelled": 0,
                "revenue": [
                    {"currency": "EUR", "amount_minor": 9000},
                    {"currency": "USD", "amount_minor": 5000},
                ],
            },
            {"day": "2026-03-02", "created": 2, "confirmed": 1, "cancelled": 0, "revenue": []},
            {
                "day": "2026-03-03",
                "created": 1,
                "confirmed": 2,
                "cancelled": 0,
                "revenue": [{"currency": "USD", "amount_minor": 2500}],
            },
            {"day": "2026-03-04", "created": 2, "confirmed": 0, "cancelled": 2, "revenue": []},
            {"day": "2026-03-05", "created": 1, "confirmed": 0, "cancelled": 0, "revenue": []},
            _zero_day("2026-03-06"),
        ]

    async def test_seat_utilization_per_event(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(client, auth_headers(scenario.admin), **RANGE)
        assert body["utilization"] == [
            {
                "event_id": str(scenario.b.event.id),
                "title": scenario.b.event.title,
                "capacity": 10,
                "sold": 5,
                "held": 0,
                "blocked": 0,
                "available": 5,
                "utilization": 0.5,
            },
            {
                "event_id": str(scenario.a.event.id),
                "title": scenario.a.event.title,
                "capacity": 10,
                "sold": 3,
                "held": 2,
                "blocked": 1,
                "available": 4,
                "utilization": 0.3,
            },
        ]

    async def test_top_events_by_revenue(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(client, auth_headers(scenario.admin), **RANGE)
        assert [
            (t["event_id"], t["currency"], t["revenue_minor"], t["tickets_sold"], t["bookings"])
            for t in body["top_events"]
        ] == [
            (str(scenario.b.event.id), "EUR", 9000, 3, 1),
            (str(scenario.a.event.id), "USD", 7500, 3, 2),
        ]

    async def test_filters_by_organizer(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(
            client,
            auth_headers(scenario.admin),
            organizer_id=str(scenario.b.organizer.id),
            **RANGE,
        )
        assert body["totals"]["bookings"] == 3
        assert body["totals"]["cancellation_rate"] == 0.5
        assert [u["event_id"] for u in body["utilization"]] == [str(scenario.b.event.id)]

    async def test_filters_by_event(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(
            client, auth_headers(scenario.admin), event_id=str(scenario.a.event.id), **RANGE
        )
        assert body["totals"]["bookings"] == 5
        assert [t["event_id"] for t in body["top_events"]] == [str(scenario.a.event.id)]

    async def test_no_settled_bookings_means_a_zero_rate(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(
            client, auth_headers(scenario.admin), **{"from": "2026-01-01", "to": "2026-01-03"}
        )
        assert body["totals"]["bookings"] == 0
        assert body["totals"]["cancellation_rate"] == 0
        assert body["daily"] == [_zero_day(f"2026-01-0{d}") for d in (1, 2, 3)]

    async def test_defaults_to_the_last_30_days(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(client, auth_headers(scenario.admin))
        today = utcnow().date()
        assert body["scope"]["to"] == today.isoformat()
        assert body["scope"]["from"] == (today - timedelta(days=29)).isoformat()
        assert len(body["daily"]) == 30


class TestOrganizerScope:
    async def test_sees_only_own_events(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        body = await _get(client, auth_headers(scenario.a.organizer), **RANGE)
        assert body["scope"]["organizer_id"] == str(scenario.a.organizer.id)
        assert body["totals"]["bookings_by_status"] == {
            "pending_payment": 1,
            "confirmed": 2,
            "cancelled": 1,
            "refunded": 1,
            "expired": 0,
        }
        assert body["totals"]["revenue"] == [{"currency": "USD", "amount_minor": 7500}]
        assert body["totals"]["cancellation_rate"] == 0.25
        assert [u["event_id"] for u in body["utilization"]] == [str(scenario.a.event.id)]
        assert [t["event_id"] for t in body["top_events"]] == [str(scenario.a.event.id)]
        assert body["daily"][3] == {
            "day": "2026-03-04",
            "created": 0,
            "confirmed": 0,
            "cancelled": 1,
            "revenue": [],
        }

    async def test_another_organizers_event_is_not_found(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        response = await client.get(
            "/api/admin/analytics",
            params={"event_id": str(scenario.b.event.id)},
            headers=auth_headers(scenario.a.organizer),
        )
        assert response.status_code == 404
        assert response.json()["code"] == "event_not_found"

    async def test_another_organizer_filter_is_forbidden(
        self, client: AsyncClient, scenario: Scenario, auth_headers: Headers
    ) -> None:
        response = await client.get(
            "/api/admin/analytics",
            params={"organizer_id": str(scenario.b.organizer.id)},
            headers=auth_headers(scenario.a.organizer),
        )
        assert response.status_code == 403
        assert response.json()["code"] == "organizer_scope_denied"


class TestAccessAndValidation:
    async def test_buyer_is_forbidden(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        response = await client.get("/api/admin/analytics", headers=auth_headers(buyer))
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"

    async def test_anonymous_is_unauthorized(self, client: AsyncClient) -> None:
        response = await client.get("/api/admin/analytics")
        assert response.status_code == 401

    @pytest.mark.parametrize(
        ("params", "code"),
        [
            ({"from": "2026-03-05", "to": "2026-03-01"}, "invalid_date_range"),
            ({"from": "2024-01-01", "to": "2026-01-01"}, "invalid_date_range"),
            ({"from": "yesterday"}, "validation_error"),
        ],
    )
    async def test_bad_date_range_is_422(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        params: dict[str, str],
        code: str,
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        response = await client.get(
            "/api/admin/analytics", params=params, headers=auth_headers(admin)
        )
        assert response.status_code == 422
        assert response.json()["code"] == code

    async def test_unknown_event_is_not_found(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        response = await client.get(
            "/api/admin/analytics",
            params={"event_id": "00000000-0000-0000-0000-000000000000"},
            headers=auth_headers(admin),
        )
        assert response.status_code == 404


class TestThroughTheBookingApi:
    async def test_booked_confirmed_and_cancelled_bookings_are_counted(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=10, price_minor=1000)
        admin = await create_user(session, role=Role.admin)
        buyer = await create_user(session)
        ids = []
        for quantity in (2, 3):
            created = await client.post(
                "/api/bookings",
                json={"showtime_id": str(world.showtime.id), "quantity": quantity},
                headers=auth_headers(buyer),
            )
            assert created.status_code == 201, created.json()
            ids.append(created.json()["id"])
        for booking_id in ids:
            confirmed = await client.post(
                f"/api/bookings/{booking_id}/confirm", headers=auth_headers(admin)
            )
            assert confirmed.status_code == 200, confirmed.json()
        cancelled = await client.post(f"/api/bookings/{ids[1]}/cancel", headers=auth_headers(admin))
        assert cancelled.status_code == 200, cancelled.json()

        body = await _get(client, auth_headers(world.organizer))
        today = utcnow().date().isoformat()
        assert body["totals"]["bookings_by_status"]["confirmed"] == 1
        assert body["totals"]["bookings_by_status"]["cancelled"] == 1
        assert body["totals"]["tickets_sold"] == 2
        # Confirmed by an admin without payment: complimentary, so sold but no revenue.
        assert body["totals"]["revenue"] == [{"currency": "USD", "amount_minor": 0}]
        assert body["totals"]["cancellation_rate"] == 0.5
        assert body["daily"][-1] == {
            "day": today,
            "created": 2,
            "confirmed": 2,
            "cancelled": 1,
            "revenue": [],
        }
        assert body["utilization"] == [
            {
                "event_id": str(world.event.id),
                "title": world.event.title,
                "capacity": 10,
                "sold": 2,
                "held": 0,
                "blocked": 0,
                "available": 8,
                "utilization": 0.2,
            }
        ]


class TestStatsOverview:
    async def test_counts(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        before = (await client.get("/api/stats/overview", headers=auth_headers(admin))).json()
        world = await create_world(session)
        buyer = await create_user(session)
        await create_booking(
            session, buyer=buyer, showtime=world.showtime, status=BookingStatus.confirmed
        )
        await create_booking(
            session,
            buyer=buyer,
            showtime=world.showtime,
            status=BookingStatus.confirmed,
            created_at=utcnow() - timedelta(days=2),
        )
        response = await client.get("/api/stats/overview", headers=auth_headers(admin))
        assert response.status_code == 200
        after = response.json()
        roles = before["users_by_role"]
        assert after["users_by_role"] == {
            **roles,
            "organizer": roles.get("organizer", 0) + 1,
            "buyer": roles.get("buyer", 0) + 1,
        }
        statuses = before["events_by_status"]
        assert after["events_by_status"] == {
            **statuses,
            "published": statuses.get("published", 0) + 1,
        }
        assert after["upcoming_showtimes"] == before["upcoming_showtimes"] + 1
        assert after["bookings_today"] == before["bookings_today"] + 1

    async def test_organizer_is_forbidden(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        response = await client.get("/api/stats/overview", headers=auth_headers(organizer))
        assert response.status_code == 403
