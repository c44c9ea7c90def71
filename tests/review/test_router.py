from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import EventStatus
from tests.factories import create_event, create_user

Headers = Callable[[User], dict[str, str]]


class TestReviews:
    async def test_one_review_per_user_and_event(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        url = f"/api/events/{event.id}/reviews"

        first = await client.post(
            url,
            json={"rating": 5, "body": "Great", "metadata": {"seat": "A1"}},
            headers=auth_headers(buyer),
        )
        second = await client.post(url, json={"rating": 1}, headers=auth_headers(buyer))

        assert first.status_code == 201
        assert first.json()["metadata"] == {"seat": "A1"}
        assert second.status_code == 409
        assert second.json()["code"] == "review_exists"

    async def test_rating_must_be_one_to_five(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer)
        response = await client.post(
            f"/api/events/{event.id}/reviews", json={"rating": 6}, headers=auth_headers(buyer)
        )
        assert response.status_code == 422

    async def test_authors_edit_and_delete_their_own_only(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        author = await create_user(session)
        stranger = await create_user(session)
        event = await create_event(session, organizer=organizer)
        created = await client.post(
            f"/api/events/{event.id}/reviews",
            json={"rating": 2, "body": "Meh"},
            headers=auth_headers(author),
        )
        url = f"/api/reviews/{created.json()['id']}"

        hijack = await client.put(url, json={"rating": 1}, headers=auth_headers(stranger))
        edited = await client.put(url, json={"rating": 4}, headers=auth_headers(author))
        not_theirs = await client.delete(url, headers=auth_headers(stranger))
        deleted = await client.delete(url, headers=auth_headers(author))
        listed = (await client.get(f"/api/events/{event.id}/reviews")).json()

        assert hijack.status_code == 403
        assert edited.json()["rating"] == 4
        assert edited.json()["body"] == "Meh"
        assert not_theirs.status_code == 403
        assert deleted.status_code == 204
        assert listed["total"] == 0

    async def test_list_is_paginated_newest_first_and_feeds_the_average(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=organizer)
        for rating in (5, 4, 3):
            buyer = await create_user(session)
            response = await client.post(
                f"/api/events/{event.id}/reviews",
                json={"rating": rating},
                headers=auth_headers(buyer),
            )
            assert response.status_code == 201

        page = (await client.get(f"/api/events/{event.id}/reviews", params={"limit": 2})).json()
        detail = (await client.get(f"/api/events/{event.id}")).json()

        assert page["total"] == 3
        assert len(page["items"]) == 2
        assert page["next"] is not None
        assert detail["rating"] == {"average": 4.0, "count": 3}

    async def test_drafts_cannot_be_reviewed(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session)
        event = await create_event(session, organizer=organizer, status=EventStatus.draft)
        response = await client.post(
            f"/api/events/{event.id}/reviews", json={"rating": 5}, headers=auth_headers(buyer)
        )
        assert response.status_code == 404

    async def test_signing_in_is_required(self, client: AsyncClient, session: AsyncSession) -> None:
        organizer = await create_user(session, role=Role.organizer)
        event = await create_event(session, organizer=organizer)
        response = await client.post(f"/api/events/{event.id}/reviews", json={"rating": 5})
        assert response.status_code == 401
