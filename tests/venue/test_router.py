from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.inventory.models import InventoryUnit, UnitState
from tests.factories import create_city, create_event, create_showtime, create_user, create_venue

Headers = Callable[[User], dict[str, str]]

LAYOUT = {
    "name": "Stalls",
    "kind": "reserved",
    "layout": {
        "rows": 3,
        "seats_per_row": 10,
        "aisles_after": [5],
        "gaps": [{"row_label": "A", "number": 1}],
        "accessible_rows": ["A"],
    },
}


class TestCreateVenue:
    async def test_generated_layout_has_labelled_seats_with_gaps_and_aisles(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        city = await create_city(session)
        body = {
            "name": "Blue Hall",
            "city_id": str(city.id),
            "sections": [LAYOUT, {"name": "Floor", "kind": "general_admission", "capacity": 200}],
        }

        created = await client.post("/api/venues", json=body, headers=auth_headers(organizer))
        assert created.status_code == 201
        venue_id = created.json()["id"]
        detail = (await client.get(f"/api/venues/{venue_id}?include_seats=true")).json()

        stalls, floor = detail["sections"]
        assert detail["capacity"] == 229
        assert detail["city_name"] == city.name
        assert (stalls["capacity"], floor["capacity"]) == (29, 200)
        seats = {(s["row_label"], s["number"]): s for s in stalls["seats"]}
        assert ("A", 1) not in seats
        assert seats[("A", 2)]["accessible"] is True
        assert seats[("B", 1)]["accessible"] is False
        assert seats[("B", 6)]["x"] - seats[("B", 5)]["x"] == 2.0  # the aisle after seat 5
        assert floor["seats"] is None

    async def test_seat_by_seat_layout(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        city = await create_city(session)
        seats = [
            {"row_label": "AA", "number": 1, "x": 0, "y": 0, "accessible": True},
            {"row_label": "AA", "number": 2, "x": 1, "y": 0},
            {"row_label": "BB", "number": 1, "x": 0.5, "y": 1.5},
        ]
        body = {
            "name": "Box",
            "city_id": str(city.id),
            "sections": [{"name": "Boxes", "kind": "reserved", "seats": seats}],
        }

        created = await client.post("/api/venues", json=body, headers=auth_headers(organizer))
        detail = (await client.get(f"/api/venues/{created.json()['id']}?include_seats=true")).json()

        listed = detail["sections"][0]["seats"]
        assert [(s["row_label"], s["row_index"], s["number"]) for s in listed] == [
            ("AA", 0, 1),
            ("AA", 0, 2),
            ("BB", 1, 1),
        ]
        assert listed[2]["y"] == 1.5

    async def test_a_buyer_may_not_create_venues(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        city = await create_city(session)
        response = await client.post(
            "/api/venues", json={"name": "X", "city_id": str(city.id)}, headers=auth_headers(buyer)
        )
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"

    async def test_a_reserved_section_needs_a_layout_or_seats(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        city = await create_city(session)
        body = {
            "name": "X",
            "city_id": str(city.id),
            "sections": [{"name": "S", "kind": "reserved", "capacity": 10}],
        }
        response = await client.post("/api/venues", json=body, headers=auth_headers(organizer))
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    async def test_an_unknown_city_is_404(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        response = await client.post(
            "/api/venues",
            json={"name": "X", "city_id": "00000000-0000-0000-0000-000000000000"},
            headers=auth_headers(organizer),
        )
        assert response.status_code == 404
        assert response.json()["code"] == "city_not_found"


class TestChangeVenue:
    async def test_another_organizer_cannot_edit(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=owner)

        response = await client.put(
            f"/api/venues/{venue.id}", json={"name": "Mine now"}, headers=auth_headers(other)
        )

        assert response.status_code == 403
        assert response.json()["code"] == "not_venue_owner"

    async def test_an_editor_without_a_grant_may_not_edit_a_venue(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        editor = await create_user(session, role=Role.editor)
        venue = await create_venue(session, organizer=owner)

        response = await client.put(
            f"/api/venues/{venue.id}", json={"name": "Renamed"}, headers=auth_headers(editor)
        )

        assert response.status_code == 403

    async def test_an_editor_granted_by_the_organizer_may_edit_their_venue(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        editor = await create_user(session, role=Role.editor)
        venue = await create_venue(session, organizer=owner)
        granted = await client.put(
            f"/api/users/{editor.id}/editor-grants/{owner.id}", headers=auth_headers(owner)
        )

        response = await client.put(
            f"/api/venues/{venue.id}", json={"name": "Renamed"}, headers=auth_headers(editor)
        )

        assert granted.status_code == 200
        assert granted.json()["organizer_ids"] == [str(owner.id)]
        assert response.status_code == 200
        assert response.json()["name"] == "Renamed"

    async def test_replacing_the_layout_without_showtimes(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=owner)

        response = await client.put(
            f"/api/venues/{venue.id}", json={"sections": [LAYOUT]}, headers=auth_headers(owner)
        )

        assert response.status_code == 200
        assert [s["name"] for s in response.json()["sections"]] == ["Stalls"]
        assert response.json()["capacity"] == 29

    async def test_adding_a_section(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=owner)
        section = {"name": "Balcony", "kind": "reserved", "layout": {"rows": 2, "seats_per_row": 5}}

        response = await client.post(
            f"/api/venues/{venue.id}/sections", json=section, headers=auth_headers(owner)
        )
        again = await client.post(
            f"/api/venues/{venue.id}/sections", json=section, headers=auth_headers(owner)
        )

        assert response.status_code == 201
        assert [s["name"] for s in response.json()["sections"]] == ["Stalls", "Balcony"]
        assert again.status_code == 409
        assert again.json()["code"] == "section_exists"

    async def test_layout_is_locked_once_a_showtime_has_sales(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=owner, rows=2, seats_per_row=5)
        event = await create_event(session, organizer=owner)
        showtime = await create_showtime(session, event=event, venue=venue)
        unit = await session.scalar(
            select(InventoryUnit).where(InventoryUnit.showtime_id == showtime.id).limit(1)
        )
        assert unit is not None
        unit.state = UnitState.sold
        await session.flush()
        section = {"name": "Extra", "kind": "general_admission", "capacity": 10}

        added = await client.post(
            f"/api/venues/{venue.id}/sections", json=section, headers=auth_headers(owner)
        )
        replaced = await client.put(
            f"/api/venues/{venue.id}", json={"sections": [LAYOUT]}, headers=auth_headers(owner)
        )
        renamed = await client.put(
            f"/api/venues/{venue.id}", json={"name": "Still fine"}, headers=auth_headers(owner)
        )

        assert added.status_code == 409
        assert added.json()["code"] == "venue_layout_locked"
        assert replaced.json()["code"] == "venue_layout_locked"
        assert renamed.status_code == 200
        units = await session.scalar(
            select(func.count()).where(InventoryUnit.showtime_id == showtime.id)
        )
        assert units == 10

    async def test_replacing_a_layout_that_showtimes_use_is_refused(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        owner = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=owner)
        event = await create_event(session, organizer=owner)
        await create_showtime(session, event=event, venue=venue)

        response = await client.put(
            f"/api/venues/{venue.id}", json={"sections": [LAYOUT]}, headers=auth_headers(owner)
        )

        assert response.status_code == 409
        assert response.json()["code"] == "venue_layout_in_use"


class TestReadVenues:
    async def test_list_filters_by_city_and_carries_capacity(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        city = await create_city(session)
        venue = await create_venue(session, city=city, rows=2, seats_per_row=3, ga_capacity=7)
        await create_venue(session)

        body = (await client.get("/api/venues", params={"city_id": str(city.id)})).json()

        assert body["total"] == 1
        assert body["items"][0]["id"] == str(venue.id)
        assert body["items"][0]["capacity"] == 13

    async def test_name_search_takes_percent_and_underscore_literally(
        self, client: AsyncClient, session: AsyncSession
    ) -> None:
        city = await create_city(session)
        plain = await create_venue(session, city=city)
        plain.name = "Hall A"
        odd = await create_venue(session, city=city)
        odd.name = "100% Arena_North"
        await session.flush()
        scope = {"city_id": str(city.id)}
        for q, names in (("%", ["100% Arena_North"]), ("_", ["100% Arena_North"]), ("a", None)):
            body = (await client.get("/api/venues", params={**scope, "q": q})).json()
            found = sorted(v["name"] for v in body["items"])
            assert found == (names or ["100% Arena_North", "Hall A"]), q

    async def test_cities_are_listed_and_created(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        body = {
            "name": "Reykjavik",
            "country": "IS",
            "latitude": 64.1466,
            "longitude": -21.9426,
            "timezone": "Atlantic/Reykjavik",
        }
        created = await client.post("/api/cities", json=body, headers=auth_headers(admin))
        bad_zone = await client.post(
            "/api/cities",
            json={**body, "name": "Nowhere", "timezone": "Mars/Olympus"},
            headers=auth_headers(admin),
        )
        again = await client.post("/api/cities", json=body, headers=auth_headers(admin))
        elsewhere = await client.post(
            "/api/cities",
            json={**body, "country": "US", "timezone": "America/New_York"},
            headers=auth_headers(admin),
        )
        found = (await client.get("/api/cities", params={"q": "reykjav"})).json()

        assert created.status_code == 201
        assert bad_zone.status_code == 422
        assert again.status_code == 409
        assert again.json()["code"] == "city_exists"
        assert elsewhere.status_code == 201  # the same name in another country is another city
        assert sorted(c["country"] for c in found["items"]) == ["IS", "US"]
