from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.venue.models import City
from tests.catalog.helpers import make_event, make_venue, soon
from tests.factories import create_city, create_user

Headers = Callable[[User], dict[str, str]]

# name, country, latitude, longitude, timezone
NEW_YORK = ("New York", "US", 40.7128, -74.0060, "America/New_York")
NEWARK = ("Newark", "US", 40.7357, -74.1724, "America/New_York")
LONDON = ("London", "GB", 51.5074, -0.1278, "Europe/London")
PARIS = ("Paris", "FR", 48.8566, 2.3522, "Europe/Paris")


async def _city(session: AsyncSession, spec: tuple[str, str, float, float, str]) -> City:
    name, country, lat, lon, tz = spec
    return await create_city(
        session, name=name, country=country, latitude=lat, longitude=lon, timezone=tz
    )


class Catalog:
    """Three published events in three cities, and one draft, made through the API."""

    def __init__(self, client: AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.events: dict[str, dict[str, Any]] = {}
        self.cities: dict[str, City] = {}

    async def build(self, session: AsyncSession) -> "Catalog":
        for spec in (NEW_YORK, NEWARK, LONDON):
            self.cities[spec[0]] = await _city(session, spec)
        ny = await make_venue(self.client, self.headers, self.cities["New York"], name="Apollo")
        newark = await make_venue(
            self.client, self.headers, self.cities["Newark"], name="Prudential"
        )
        london = await make_venue(self.client, self.headers, self.cities["London"], name="Globe")
        self.events["jazz"] = await make_event(
            self.client, self.headers, ny, title="Midnight Jazz Session", days=(3,)
        )
        self.events["hamlet"] = await make_event(
            self.client,
            self.headers,
            london,
            title="Hamlet",
            event_type="theatre",
            description="Shakespeare's tragedy of the Prince of Denmark",
            days=(10, 12),
            stalls_price=9000,
        )
        self.events["derby"] = await make_event(
            self.client,
            self.headers,
            newark,
            title="Hockey Derby",
            event_type="sport",
            description="Ice hockey rivalry",
            days=(6,),
            stalls_price=1000,
        )
        self.events["secret"] = await make_event(
            self.client, self.headers, ny, title="Secret Jazz Rehearsal", publish=False
        )
        return self

    def ids(self, *names: str) -> list[str]:
        return [self.events[n]["id"] for n in names]


@pytest.fixture
async def catalog(client: AsyncClient, session: AsyncSession, auth_headers: Headers) -> Catalog:
    organizer = await create_user(session, role=Role.organizer)
    return await Catalog(client, auth_headers(organizer)).build(session)


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


class TestListFilters:
    async def test_default_order_is_next_showtime_first(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        body = (await client.get("/api/events")).json()
        assert _ids(body) == catalog.ids("jazz", "derby", "hamlet")
        assert body["items"][0]["cities"] == ["New York"]
        assert body["items"][0]["venues"] == ["Apollo"]

    async def test_filter_by_type_city_and_organizer(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        by_type = (await client.get("/api/events", params={"event_type": "theatre"})).json()
        london = catalog.cities["London"].id
        by_city = (await client.get("/api/events", params={"city_id": str(london)})).json()
        organizer = catalog.events["jazz"]["organizer_id"]
        by_organizer = (await client.get("/api/events", params={"organizer_id": organizer})).json()

        assert _ids(by_type) == catalog.ids("hamlet")
        assert _ids(by_city) == catalog.ids("hamlet")
        assert by_organizer["total"] == 3

    async def test_filter_by_date_range(self, client: AsyncClient, catalog: Catalog) -> None:
        params = {"starts_after": soon(5).isoformat(), "starts_before": soon(11).isoformat()}
        body = (await client.get("/api/events", params=params)).json()
        assert _ids(body) == catalog.ids("derby", "hamlet")

    async def test_free_text_filter(self, client: AsyncClient, catalog: Catalog) -> None:
        body = (await client.get("/api/events", params={"q": "jazz"})).json()
        assert _ids(body) == catalog.ids("jazz")

    async def test_sort_by_price_descending_and_by_title(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        by_price = (
            await client.get("/api/events", params={"sort": "price", "order": "desc"})
        ).json()
        by_title = (await client.get("/api/events", params={"sort": "title"})).json()
        assert _ids(by_price) == catalog.ids("hamlet", "jazz", "derby")
        assert [e["lowest_price"]["amount_minor"] for e in by_price["items"]] == [4500, 2500, 500]
        assert _ids(by_title) == catalog.ids("hamlet", "derby", "jazz")

    async def test_unknown_sort_is_a_validation_error(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        response = await client.get("/api/events", params={"sort": "popularity"})
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    async def test_pagination_past_the_end_keeps_the_total(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        body = (await client.get("/api/events", params={"limit": 2, "offset": 10})).json()
        assert body["items"] == []
        assert body["total"] == 3

    async def test_city_events_path_and_unknown_city(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        newark = catalog.cities["Newark"].id
        body = (await client.get(f"/api/cities/{newark}/events")).json()
        missing = await client.get("/api/cities/00000000-0000-0000-0000-000000000000/events")
        assert _ids(body) == catalog.ids("derby")
        assert missing.status_code == 404


class TestSearch:
    async def test_a_misspelled_word_still_finds_the_event(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        body = (await client.get("/api/events/search", params={"q": "hamlt"})).json()
        assert _ids(body) == catalog.ids("hamlet")

    async def test_partial_words_match_the_description(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        body = (await client.get("/api/events/search", params={"q": "shakesp denm"})).json()
        assert _ids(body) == catalog.ids("hamlet")

    async def test_city_and_type_are_searchable(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        by_city = (await client.get("/api/events/search", params={"q": "london"})).json()
        by_type = (await client.get("/api/events/search", params={"q": "sport"})).json()
        assert _ids(by_city) == catalog.ids("hamlet")
        assert _ids(by_type) == catalog.ids("derby")

    async def test_title_matches_rank_above_description_matches(
        self, client: AsyncClient, session: AsyncSession, catalog: Catalog
    ) -> None:
        ny = catalog.cities["New York"]
        venue = await make_venue(client, catalog.headers, ny, name="Blue Note")
        mention = await make_event(
            client, catalog.headers, venue, title="Brunch Club", description="jazz trio plays"
        )
        body = (await client.get("/api/events/search", params={"q": "jazz"})).json()
        assert _ids(body) == [catalog.events["jazz"]["id"], mention["id"]]
        assert body["items"][0]["rank"] > body["items"][1]["rank"]

    async def test_a_renamed_venue_is_searchable_by_its_new_name(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        venue_id = catalog.events["hamlet"]["showtimes"][0]["venue_id"]
        renamed = await client.put(
            f"/api/venues/{venue_id}", json={"name": "Old Vic"}, headers=catalog.headers
        )
        body = (await client.get("/api/events/search", params={"q": "old vic"})).json()
        assert renamed.status_code == 200
        assert _ids(body) == catalog.ids("hamlet")

    async def test_an_empty_query_is_a_validation_error(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        response = await client.get("/api/events/search", params={"q": ""})
        assert response.status_code == 422


class TestByLocation:
    async def test_nearest_first_with_distances(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        _, _, lat, lon, _ = NEW_YORK
        params = {"latitude": lat, "longitude": lon, "radius": 50}
        body = (await client.get("/api/events/by-location", params=params)).json()

        assert _ids(body) == catalog.ids("jazz", "derby")
        assert body["items"][0]["distance_km"] == pytest.approx(0.0, abs=0.01)
        assert body["items"][1]["distance_km"] == pytest.approx(14.2, rel=0.01)
        assert body["items"][1]["nearest_city"] == "Newark"
        assert body["items"][1]["nearest_venue"] == "Prudential"

    async def test_radius_excludes_farther_events(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        _, _, lat, lon, _ = NEW_YORK
        params = {"latitude": lat, "longitude": lon, "radius": 10}
        body = (await client.get("/api/events/by-location", params=params)).json()
        assert _ids(body) == catalog.ids("jazz")

    async def test_london_to_paris_is_344_km(
        self, client: AsyncClient, session: AsyncSession, catalog: Catalog
    ) -> None:
        await _city(session, PARIS)
        body = (
            await client.get(
                "/api/events/by-location", params={"city_name": "Paris", "radius": 400}
            )
        ).json()
        assert _ids(body) == catalog.ids("hamlet")
        assert body["items"][0]["distance_km"] == pytest.approx(344, rel=0.01)

    async def test_city_name_tolerates_case_and_typos(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        body = (await client.get("/api/events/by-location", params={"city_name": "newrk"})).json()
        assert _ids(body) == catalog.ids("derby", "jazz")

    async def test_posted_location_is_used_when_no_place_is_given(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        catalog: Catalog,
    ) -> None:
        buyer = await create_user(session)
        _, _, lat, lon, _ = LONDON
        posted = await client.post(
            "/api/location",
            json={"latitude": lat, "longitude": lon},
            headers=auth_headers(buyer),
        )
        body = (await client.get("/api/events/by-location", headers=auth_headers(buyer))).json()
        assert posted.status_code == 200
        assert _ids(body) == catalog.ids("hamlet")

    async def test_no_place_at_all_is_a_clear_error(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        response = await client.get("/api/events/by-location")
        assert response.status_code == 422
        assert response.json()["code"] == "location_required"

    async def test_latitude_without_longitude_is_refused(
        self, client: AsyncClient, catalog: Catalog
    ) -> None:
        response = await client.get("/api/events/by-location", params={"latitude": 40.7})
        assert response.status_code == 422
        assert response.json()["code"] == "location_required"

    async def test_unknown_city_name_is_404(self, client: AsyncClient, catalog: Catalog) -> None:
        response = await client.get("/api/events/by-location", params={"city_name": "Atlantis"})
        assert response.status_code == 404
        assert response.json()["code"] == "city_not_found"


class TestEventDetail:
    async def test_detail_has_showtimes_price_availability_and_rating(
        self,
        client: AsyncClient,
        session: AsyncSession,
        auth_headers: Headers,
        catalog: Catalog,
    ) -> None:
        buyer = await create_user(session)
        event_id = catalog.events["hamlet"]["id"]
        await client.post(
            f"/api/events/{event_id}/reviews",
            json={"rating": 4, "body": "Moving"},
            headers=auth_headers(buyer),
        )

        body = (await client.get(f"/api/events/{event_id}")).json()

        assert [s["venue_name"] for s in body["showtimes"]] == ["Globe", "Globe"]
        assert body["showtimes"][0]["starts_at"] < body["showtimes"][1]["starts_at"]
        assert body["showtimes"][0]["timezone"] == "Europe/London"
        assert body["lowest_price"] == {"amount_minor": 4500, "currency": "USD"}
        assert body["availability"] == {"units": 120, "available": 120}
        assert body["rating"] == {"average": 4.0, "count": 1}
