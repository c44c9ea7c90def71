"""HTTP helpers for catalog tests: an organizer's venue, event and showtimes, via the API."""

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from boxoffice.venue.models import City


def soon(days: int, hour: int = 19) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )


async def make_venue(
    client: AsyncClient, headers: dict[str, str], city: City, *, name: str = "Hall"
) -> dict[str, Any]:
    body = {
        "name": name,
        "city_id": str(city.id),
        "address": "1 Main St",
        "sections": [
            {
                "name": "Stalls",
                "kind": "reserved",
                "layout": {"rows": 4, "seats_per_row": 10, "aisles_after": [5]},
            },
            {"name": "Standing", "kind": "general_admission", "capacity": 20},
        ],
    }
    response = await client.post("/api/venues", json=body, headers=headers)
    assert response.status_code == 201, response.text
    venue: dict[str, Any] = response.json()
    return venue


def tiers(venue: dict[str, Any], stalls: int = 5000) -> list[dict[str, Any]]:
    """Stalls at `stalls`, standing at half that."""
    prices = {"Stalls": stalls, "Standing": stalls // 2}
    return [
        {
            "section_id": s["id"],
            "name": s["name"],
            "price_minor": prices[s["name"]],
            "currency": "USD",
        }
        for s in venue["sections"]
    ]


async def make_event(
    client: AsyncClient,
    headers: dict[str, str],
    venue: dict[str, Any],
    *,
    title: str = "Jazz Night",
    event_type: str = "music",
    description: str = "Live jazz",
    days: tuple[int, ...] = (5,),
    stalls_price: int = 5000,
    publish: bool = True,
) -> dict[str, Any]:
    created = await client.post(
        "/api/events",
        json={"title": title, "event_type": event_type, "description": description},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    event: dict[str, Any] = created.json()
    for day in days:
        starts = soon(day)
        response = await client.post(
            f"/api/events/{event['id']}/showtimes",
            json={
                "venue_id": venue["id"],
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=2)).isoformat(),
                "price_tiers": tiers(venue, stalls=stalls_price),
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
    if publish:
        published = await client.post(f"/api/events/{event['id']}/publish", headers=headers)
        assert published.status_code == 200, published.text
        event = published.json()
    return event
