"""The audit log: staff actions and money, written with the action, read by who may."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.audit.models import AuditEntry
from boxoffice.auth.models import Role, User
from boxoffice.catalog import service as catalog_service
from boxoffice.catalog.models import EventStatus
from tests.booking.factories import World, create_world, free_booking, pending_booking
from tests.factories import create_event, create_showtime, create_user, create_venue

Headers = Callable[[User], dict[str, str]]

SUCCESS_CARD = "4242424242424242"


async def _log(client: AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/admin/audit-log", params=params, headers=headers)
    assert response.status_code == 200, response.json()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _only(items: list[dict[str, Any]], action: str) -> dict[str, Any]:
    (entry,) = [i for i in items if i["action"] == action]
    return entry


async def _paid(
    client: AsyncClient, world: World, buyer: User, auth_headers: Headers
) -> dict[str, Any]:
    booking = await pending_booking(client, world, buyer, auth_headers, quantity=2)
    started = await client.post(
        "/api/payments/initiate", json={"booking_id": booking["id"]}, headers=auth_headers(buyer)
    )
    payment = started.json()["payment"]
    paid = await client.post(
        "/api/payments/confirm",
        json={"payment_id": payment["id"], "card_number": SUCCESS_CARD},
        headers=auth_headers(buyer),
    )
    assert paid.json()["status"] == "succeeded", paid.json()
    return {**booking, "payment_id": payment["id"]}


class TestBookingsAndMoney:
    async def test_a_comp_and_a_staff_cancel_name_the_admin_and_the_money(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        admin = await create_user(session, role=Role.admin)
        buyer = await create_user(session)
        comped = await pending_booking(client, world, buyer, auth_headers, quantity=2)
        paid = await _paid(client, world, buyer, auth_headers)

        confirmed = await client.post(
            f"/api/bookings/{comped['id']}/confirm",
            headers={**auth_headers(admin), "X-Request-ID": "desk-42"},
        )
        cancelled = await client.post(
            f"/api/bookings/{paid['id']}/cancel", headers=auth_headers(admin)
        )
        assert confirmed.status_code == 200, confirmed.json()
        assert cancelled.json()["status"] == "refunded", cancelled.json()

        items = await _log(client, auth_headers(admin))
        comp = _only(items, "booking.comped")
        assert (comp["actor_id"], comp["actor_role"]) == (str(admin.id), "admin")
        assert (comp["target_type"], comp["target_id"]) == ("booking", comped["id"])
        assert comp["organizer_id"] == str(world.organizer.id)
        assert comp["event_id"] == str(world.event.id)
        assert comp["request_id"] == "desk-42"
        assert comp["details"] == {
            "buyer_id": str(buyer.id),
            "quantity": 2,
            "total_minor": 5000,
            "currency": "USD",
        }
        cancel = _only(items, "booking.cancelled")
        assert cancel["target_id"] == paid["id"]
        assert cancel["details"] == {
            "buyer_id": str(buyer.id),
            "from_status": "confirmed",
            "to_status": "refunded",
            "refunded": True,
        }
        refund = _only(items, "payment.refunded")
        assert (refund["actor_id"], refund["target_id"]) == (str(admin.id), paid["payment_id"])
        assert refund["details"]["amount_minor"] == 5000
        assert refund["details"]["status"] == "succeeded"
        assert refund["details"]["booking_id"] == paid["id"]

    async def test_a_buyer_s_own_cancel_is_no_staff_action_but_their_refund_is_money(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        admin = await create_user(session, role=Role.admin)
        buyer = await create_user(session)
        unpaid = await pending_booking(client, world, buyer, auth_headers)
        paid = await _paid(client, world, buyer, auth_headers)

        for booking in (unpaid, paid):
            done = await client.post(
                f"/api/bookings/{booking['id']}/cancel", headers=auth_headers(buyer)
            )
            assert done.status_code == 200, done.json()

        items = await _log(client, auth_headers(admin))
        assert [i["action"] for i in items] == ["payment.refunded"]
        assert (items[0]["actor_id"], items[0]["actor_role"]) == (str(buyer.id), "buyer")


class TestWhoMayRead:
    async def test_organizers_read_their_events_editors_their_grants_buyers_nothing(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        mine, theirs = await create_world(session), await create_world(session)
        admin = await create_user(session, role=Role.admin)
        editor = await create_user(session, role=Role.editor)
        buyer = await create_user(session)
        for world in (mine, theirs):
            booking = await pending_booking(client, world, buyer, auth_headers)
            done = await client.post(
                f"/api/bookings/{booking['id']}/confirm", headers=auth_headers(admin)
            )
            assert done.status_code == 200
        granted = await client.put(
            f"/api/users/{editor.id}/editor-grants/{mine.organizer.id}",
            headers=auth_headers(mine.organizer),
        )
        assert granted.status_code == 200, granted.json()
        await session.refresh(editor)

        organizer_reads = await _log(client, auth_headers(mine.organizer))
        editor_reads = await _log(client, auth_headers(editor))
        everything = await _log(client, auth_headers(admin))
        refused = await client.get("/api/admin/audit-log", headers=auth_headers(buyer))

        assert {i["event_id"] for i in organizer_reads} == {str(mine.event.id), None}
        assert {i["action"] for i in organizer_reads} == {"booking.comped", "user.editor_granted"}
        assert {i["organizer_id"] for i in editor_reads} == {str(mine.organizer.id)}
        assert len(editor_reads) == 2
        assert len(everything) == 3
        grant = _only(everything, "user.editor_granted")
        assert (grant["actor_role"], grant["target_id"]) == ("organizer", str(editor.id))
        assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")

    async def test_filters_and_pages(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        admin = await create_user(session, role=Role.admin)
        buyer = await create_user(session)
        ids = []
        for _ in range(3):
            booking = await pending_booking(client, world, buyer, auth_headers)
            ids.append(booking["id"])
            await client.post(f"/api/bookings/{booking['id']}/confirm", headers=auth_headers(admin))
        headers = auth_headers(admin)

        first = await client.get("/api/admin/audit-log", params={"limit": 2}, headers=headers)
        one = await _log(client, headers, target_type="booking", target_id=ids[0])
        by_event = await _log(client, headers, event_id=str(world.event.id))
        by_actor = await _log(client, headers, actor_id=str(buyer.id))
        newest = datetime.fromisoformat(first.json()["items"][0]["at"])
        after = (newest + timedelta(milliseconds=1)).isoformat()
        later = await _log(client, headers, since=after)
        before = await _log(client, headers, until=after, target_type="booking")
        bad = await client.get(
            "/api/admin/audit-log", params={"since": "yesterday"}, headers=headers
        )

        assert first.json()["total"] == 3
        assert [i["target_id"] for i in first.json()["items"]] == [ids[2], ids[1]]
        assert "offset=2" in first.json()["next"]
        assert [i["target_id"] for i in one] == [ids[0]]
        assert len(by_event) == 3
        assert by_actor == []
        assert later == []
        assert len(before) == 3
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")


class TestAccounts:
    async def test_role_access_and_corrections_name_fields_not_values(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        admin = await create_user(session, role=Role.admin)
        user = await create_user(session)
        headers = auth_headers(admin)

        for method, path, body in (
            ("PUT", f"/api/users/{user.id}", {"full_name": "New Name", "email": "n@example.com"}),
            ("PUT", f"/api/users/{user.id}/role", {"role": "organizer"}),
            ("POST", f"/api/users/{user.id}/deactivate", None),
            ("POST", f"/api/users/{user.id}/deactivate", None),
            ("POST", f"/api/users/{user.id}/reactivate", None),
            ("DELETE", f"/api/users/{user.id}", None),
        ):
            done = await client.request(method, path, json=body, headers=headers)
            assert done.status_code in (200, 204), (path, done.json())

        items = await _log(client, headers, target_id=str(user.id))
        assert [i["action"] for i in reversed(items)] == [
            "user.updated",
            "user.role_changed",
            "user.deactivated",  # once: deactivating again changed nothing
            "user.reactivated",
            "user.deleted",
        ]
        assert items[-1]["details"] == {"fields": ["full_name", "email"]}
        assert items[-2]["details"] == {"from_role": "buyer", "to_role": "organizer"}
        assert "n@example.com" not in str(items)
        assert {i["actor_id"] for i in items} == {str(admin.id)}


class TestCatalogAndDoor:
    async def test_an_organizer_s_changes_to_a_show_and_its_seats(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session, price_minor=0)
        organizer = world.organizer
        headers = auth_headers(organizer)
        buyer = await create_user(session)
        booking = await free_booking(client, world, buyer, auth_headers, quantity=1)
        ticket = booking["tickets"][0]
        showtime = f"/api/showtimes/{world.showtime.id}"
        new_start = world.showtime.starts_at + timedelta(days=1)
        tier = (await client.get(showtime, headers=headers)).json()["price_tiers"][0]
        cutoff = world.event.refund_cutoff_hours

        steps = [
            (
                "PUT",
                f"/api/events/{world.event.id}",
                {"description": "Now with strings", "refund_cutoff_hours": 48, "title": None},
            ),
            ("PUT", showtime, {"starts_at": new_start.isoformat()}),
            ("PUT", f"{showtime}/price-tiers/{tier['id']}", {"price_minor": 1500}),
            ("POST", f"{showtime}/seats/block", {"seat_ids": [world.seats[-1].id]}),
            ("POST", f"{showtime}/seats/unblock", {"seat_ids": [world.seats[-1].id]}),
            ("POST", f"{showtime}/check-ins", {"code": ticket["code"]}),
            ("DELETE", f"{showtime}/check-ins/{ticket['id']}", None),
            ("POST", f"{showtime}/cancel", None),
            ("POST", f"/api/events/{world.event.id}/cancel", None),
        ]
        for method, path, body in steps:
            done = await client.request(method, path, json=body, headers=headers)
            assert done.status_code in (200, 201), (path, done.json())

        items = await _log(client, headers, event_id=str(world.event.id))
        assert [i["action"] for i in reversed(items)] == [
            "event.updated",
            "showtime.rescheduled",
            "price_tier.changed",
            "seats.blocked",
            "seats.unblocked",
            "check_in.undone",
            "showtime.cancelled",
            "event.cancelled",
        ]
        assert {i["actor_id"] for i in items} == {str(organizer.id)}
        by = {i["action"]: i for i in items}
        assert by["event.updated"]["details"] == {
            "fields": ["description", "refund_cutoff_hours"],
            "rules": {"refund_cutoff_hours": [cutoff, 48]},
        }
        assert by["price_tier.changed"]["details"]["from_price_minor"] == 0
        assert by["price_tier.changed"]["details"]["to_price_minor"] == 1500
        assert by["seats.blocked"]["details"]["units"] == 1
        assert by["check_in.undone"]["target_id"] == ticket["id"]
        assert by["check_in.undone"]["details"]["checked_in_by"] == str(organizer.id)
        assert by["showtime.cancelled"]["details"]["buyers_told"] == 1
        assert by["event.cancelled"]["details"]["showtimes_cancelled"] == 0

    async def test_a_venue_changed_a_section_added_and_a_showtime_scheduled(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=organizer)
        event = await create_event(session, organizer=organizer, status=EventStatus.published)
        headers = auth_headers(organizer)
        place = f"/api/venues/{venue.id}"

        changed = await client.put(
            place, json={"address": "2 Quay Street", "description": "Riverside"}, headers=headers
        )
        floor = await client.post(
            f"{place}/sections",
            json={"name": "Floor", "kind": "general_admission", "capacity": 300},
            headers=headers,
        )
        unchanged = await client.put(place, json={"address": "2 Quay Street"}, headers=headers)
        assert (changed.status_code, floor.status_code, unchanged.status_code) == (200, 201, 200)
        sections = (await client.get(place, headers=headers)).json()["sections"]
        start = datetime(2031, 5, 1, 19, 30).astimezone()
        scheduled = await client.post(
            f"/api/events/{event.id}/showtimes",
            json={
                "venue_id": str(venue.id),
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
                "price_tiers": [
                    {
                        "section_id": s["id"],
                        "name": s["name"],
                        "price_minor": 2500,
                        "currency": "EUR",
                    }
                    for s in sections
                ],
            },
            headers=headers,
        )
        assert scheduled.status_code == 201, scheduled.json()

        items = await _log(client, headers)
        # An update that changed nothing (the same address again) is no entry.
        assert [(i["action"], i["target_type"]) for i in reversed(items)] == [
            ("venue.updated", "venue"),
            ("venue.section_added", "venue"),
            ("showtime.added", "showtime"),
        ]
        updated, added, showtime = reversed(items)
        assert {updated["organizer_id"], added["organizer_id"], showtime["organizer_id"]} == {
            str(organizer.id)
        }
        # Field names, never the address typed.
        assert updated["details"] == {
            "fields": ["address", "description"],
            "layout_replaced": False,
        }
        (floor_section,) = [s for s in floor.json()["sections"] if s["name"] == "Floor"]
        assert added["details"] == {
            "section_id": floor_section["id"],
            "kind": "general_admission",
            "capacity": 300,
        }
        assert showtime["target_id"] == scheduled.json()["id"]
        assert showtime["event_id"] == str(event.id)
        assert showtime["details"]["venue_id"] == str(venue.id)
        assert datetime.fromisoformat(showtime["details"]["starts_at"]) == start
        assert sorted(p["section_id"] for p in showtime["details"]["prices"]) == sorted(
            s["id"] for s in sections
        )
        assert {(p["price_minor"], p["currency"]) for p in showtime["details"]["prices"]} == {
            (2500, "EUR")
        }

    async def test_publishing_and_deleting_a_draft(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        venue = await create_venue(session, organizer=organizer)
        published = await create_event(session, organizer=organizer, status=EventStatus.draft)
        await create_showtime(session, event=published, venue=venue)
        dropped = await create_event(session, organizer=organizer, status=EventStatus.draft)
        headers = auth_headers(organizer)

        done = await client.post(f"/api/events/{published.id}/publish", headers=headers)
        gone = await client.delete(f"/api/events/{dropped.id}", headers=headers)
        assert (done.status_code, gone.status_code) == (200, 204)

        items = await _log(client, headers)
        assert [(i["action"], i["target_id"]) for i in reversed(items)] == [
            ("event.published", str(published.id)),
            ("event.deleted", str(dropped.id)),
        ]
        # The deleted event's entry stays, with its id and title.
        assert items[0]["event_id"] == str(dropped.id)
        assert items[0]["details"] == {"title": dropped.title}


class TestCouponsAndAnnouncements:
    async def test_coupons_made_and_changed_and_an_announcement(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        admin = await create_user(session, role=Role.admin)
        headers = auth_headers(world.organizer)
        made = await client.post(
            "/api/coupons",
            json={"code": "EARLY10", "kind": "percent", "value": 10},
            headers=headers,
        )
        assert made.status_code == 201, made.json()
        changed = await client.put(
            f"/api/coupons/{made.json()['id']}",
            json={"active": False, "max_redemptions": 50},
            headers=headers,
        )
        assert changed.status_code == 200, changed.json()
        pushed = await client.post(
            "/api/notifications/push",
            json={
                "audience": {"type": "event_interested", "id": str(world.event.id)},
                "title": "Doors at 7",
                "body": "Come early",
            },
            headers=auth_headers(admin),
        )
        assert pushed.status_code == 202, pushed.json()

        items = await _log(client, auth_headers(admin))
        coupon = _only(items, "coupon.created")
        assert coupon["organizer_id"] == str(world.organizer.id)
        assert coupon["details"]["code"] == "EARLY10"
        assert _only(items, "coupon.updated")["details"]["changes"] == {
            "active": False,
            "max_redemptions": 50,
        }
        announcement = _only(items, "announcement.pushed")
        assert announcement["target_id"] == str(world.event.id)
        assert announcement["details"]["title"] == "Doors at 7"
        # The organizer reads their coupons, not the admin's announcement.
        theirs = await _log(client, headers)
        assert {i["action"] for i in theirs} == {"coupon.created", "coupon.updated"}

    async def test_where_an_organizer_s_data_is_sent(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        organizer = await create_user(session, role=Role.organizer)
        headers = auth_headers(organizer)
        created = await client.post(
            "/api/webhooks",
            json={"url": "https://hooks.example.com/in", "topics": ["booking.confirmed"]},
            headers=headers,
        )
        assert created.status_code == 201, created.json()
        gone = await client.delete(f"/api/webhooks/{created.json()['id']}", headers=headers)
        assert gone.status_code == 204

        items = await _log(client, headers, target_id=created.json()["id"])
        assert [(i["action"], i["details"]) for i in items] == [
            ("webhook.deleted", {"host": "hooks.example.com"}),
            ("webhook.created", {"host": "hooks.example.com", "topics": ["booking.confirmed"]}),
        ]
        assert "secret" not in str(items)


class TestModeration:
    async def test_an_admin_editing_or_removing_someone_s_review_is_logged_an_author_not(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        admin = await create_user(session, role=Role.admin)
        author = await create_user(session)
        path = f"/api/events/{world.event.id}/reviews"
        made = await client.post(path, json={"rating": 1}, headers=auth_headers(author))
        review = f"/api/reviews/{made.json()['id']}"

        own = await client.put(review, json={"body": "rude"}, headers=auth_headers(author))
        edited = await client.put(review, json={"body": "[removed]"}, headers=auth_headers(admin))
        gone = await client.delete(review, headers=auth_headers(admin))
        assert (own.status_code, edited.status_code, gone.status_code) == (200, 200, 204)

        items = await _log(client, auth_headers(world.organizer), target_type="review")
        assert [(i["action"], i["actor_id"]) for i in items] == [
            ("review.deleted", str(admin.id)),
            ("review.edited", str(admin.id)),
        ]
        assert items[0]["details"] == {"author_id": str(author.id), "rating": 1}
        assert "rude" not in str(items)


class TestWrittenWithTheAction:
    async def test_an_action_rolled_back_leaves_no_entry(
        self,
        committing_app: FastAPI,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        async with sessionmaker() as setup:
            organizer = await create_user(setup, role=Role.organizer)
            venue = await create_venue(setup, organizer=organizer)
            event = await create_event(setup, organizer=organizer, status=EventStatus.draft)
            await create_showtime(setup, event=event, venue=venue)
            await setup.commit()

        async with sessionmaker() as session:
            await catalog_service.publish_event(session, organizer, event.id)
            await session.flush()
            written = await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.target_id == str(event.id))
            )
            await session.rollback()
        async with sessionmaker() as session:
            kept = await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.target_id == str(event.id))
            )

        assert (written, kept) == (1, 0)
