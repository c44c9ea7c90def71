from collections.abc import Callable

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import Role, User
from tests.factories import create_event, create_user

Headers = Callable[[User], dict[str, str]]


async def _grant(
    client: AsyncClient, actor: User, editor: User, organizer: User, auth: Headers
) -> int:
    response = await client.put(
        f"/api/users/{editor.id}/editor-grants/{organizer.id}", headers=auth(actor)
    )
    return response.status_code


class TestEditorGrants:
    async def test_granted_editor_edits_that_organizers_event_only(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        granting = await create_user(session, role=Role.organizer)
        other = await create_user(session, role=Role.organizer)
        editor = await create_user(session, role=Role.editor)
        mine = await create_event(session, organizer=granting)
        theirs = await create_event(session, organizer=other)
        assert await _grant(client, granting, editor, granting, auth_headers) == 200

        allowed = await client.put(
            f"/api/events/{mine.id}", json={"title": "Edited"}, headers=auth_headers(editor)
        )
        refused = await client.put(
            f"/api/events/{theirs.id}", json={"title": "Edited"}, headers=auth_headers(editor)
        )

        assert allowed.status_code == 200
        assert refused.status_code == 403

    async def test_revoked_grant_takes_effect_at_once(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        editor = await create_user(session, role=Role.editor)
        event = await create_event(session, organizer=organizer)
        await _grant(client, organizer, editor, organizer, auth_headers)

        revoked = await client.delete(
            f"/api/users/{editor.id}/editor-grants/{organizer.id}", headers=auth_headers(organizer)
        )
        response = await client.put(
            f"/api/events/{event.id}", json={"title": "Edited"}, headers=auth_headers(editor)
        )

        assert revoked.json()["organizer_ids"] == []
        assert response.status_code == 403

    async def test_an_admin_may_grant_and_the_editor_sees_it(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        organizer = await create_user(session, role=Role.organizer)
        editor = await create_user(session, role=Role.editor)

        assert await _grant(client, admin, editor, organizer, auth_headers) == 200
        seen = await client.get(
            f"/api/users/{editor.id}/editor-grants", headers=auth_headers(editor)
        )

        assert seen.json()["organizer_ids"] == [str(organizer.id)]

    async def test_nobody_else_may_grant_an_organizers_catalog(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        intruder = await create_user(session, role=Role.organizer)
        editor = await create_user(session, role=Role.editor)

        assert await _grant(client, intruder, editor, organizer, auth_headers) == 403
        assert await _grant(client, editor, editor, organizer, auth_headers) == 403

    async def test_only_editors_receive_grants_and_only_organizers_give_them(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        organizer = await create_user(session, role=Role.organizer)
        buyer = await create_user(session, role=Role.buyer)
        editor = await create_user(session, role=Role.editor)

        to_buyer = await client.put(
            f"/api/users/{buyer.id}/editor-grants/{organizer.id}", headers=auth_headers(admin)
        )
        from_buyer = await client.put(
            f"/api/users/{editor.id}/editor-grants/{buyer.id}", headers=auth_headers(admin)
        )

        assert to_buyer.status_code == 409
        assert to_buyer.json()["code"] == "not_an_editor"
        assert from_buyer.json()["code"] == "not_an_organizer"

    async def test_another_user_cannot_read_an_editors_grants(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        editor = await create_user(session, role=Role.editor)
        buyer = await create_user(session, role=Role.buyer)

        response = await client.get(
            f"/api/users/{editor.id}/editor-grants", headers=auth_headers(buyer)
        )

        assert response.status_code == 404
