"""Deleting an account (DELETE /api/users/me, and by an admin): what it had going is given
back, personal data goes, paid bookings stay."""

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.catalog.models import Showtime
from boxoffice.kit.jobs import Job
from boxoffice.kit.time import utcnow
from boxoffice.user import closing
from tests.booking.factories import World, committed_world, create_world, free_booking
from tests.factories import PASSWORD, create_user, until_waiting_for_locks

Headers = Callable[[User], dict[str, str]]

# A buyer's holds, unpaid bookings and waitlist entries, as the database has them.
_GOING = text(
    """
    SELECT (SELECT count(*) FROM inventory_units u JOIN holds h ON h.id = u.hold_id
             WHERE h.user_id = :user AND u.state = 'held') AS units_held,
           (SELECT count(*) FROM holds
             WHERE user_id = :user AND status = 'active' AND expires_at > now()) AS live_holds,
           (SELECT count(*) FROM bookings
             WHERE user_id = :user AND status = 'pending_payment') AS unpaid_bookings,
           (SELECT count(*) FROM waitlist_entries
             WHERE user_id = :user AND status IN ('waiting', 'offered')) AS waiting
    """
)


async def _going(session: AsyncSession, user: User) -> dict[str, int]:
    row = (await session.execute(_GOING, {"user": user.id})).one()
    return dict(row._mapping)


def _delete_me(
    client: AsyncClient, headers: dict[str, str], password: str | None = PASSWORD
) -> Any:
    body = {} if password is None else {"password": password}
    return client.request("DELETE", "/api/users/me", json=body, headers=headers)


async def _hold(client: AsyncClient, headers: dict[str, str], world: World) -> Response:
    return await client.post(
        "/api/bookings/hold-seats",
        json={"showtime_id": str(world.showtime.id), "quantity": 2},
        headers=headers,
    )


class TestDeleteMe:
    async def test_holds_unpaid_bookings_and_waitlists_are_given_back_and_the_data_goes(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        holding, booking_world = await create_world(session), await create_world(session)
        buyer = await create_user(session)
        headers = auth_headers(buyer)
        assert (await _hold(client, headers, holding)).status_code == 201
        booked = await client.post(
            "/api/bookings",
            json={"showtime_id": str(booking_world.showtime.id), "quantity": 2},
            headers=headers,
        )
        assert booked.json()["status"] == "pending_payment"
        joined = await client.post(
            "/api/waitlists",
            json={"showtime_id": str(booking_world.showtime.id), "quantity": 1},
            headers=headers,
        )
        assert joined.status_code in {200, 201}, joined.text
        await client.post(f"/api/organizers/{holding.organizer.id}/follow", headers=headers)
        # The unpaid booking's units stay held by the hold it was made from.
        assert await _going(session, buyer) == {
            "units_held": 4,
            "live_holds": 1,
            "unpaid_bookings": 1,
            "waiting": 1,
        }

        deleted = await _delete_me(client, headers)
        after = await client.get("/api/users/me", headers=headers)
        login = await client.post(
            "/api/auth/login", json={"email": buyer.email, "password": PASSWORD}
        )

        assert deleted.status_code == 204, deleted.text
        assert await _going(session, buyer) == dict.fromkeys(
            ("units_held", "live_holds", "unpaid_bookings", "waiting"), 0
        )
        assert after.status_code == 401
        assert login.status_code == 401
        await session.refresh(buyer)
        assert buyer.deleted_at is not None
        assert buyer.email == f"deleted-{buyer.id}@deleted.invalid"
        assert buyer.password_hash is None
        follows = await session.scalar(
            text("SELECT count(*) FROM organizer_follows WHERE user_id = :u"), {"u": buyer.id}
        )
        assert follows == 0
        # The booking is kept, cancelled, for the organizer's records.
        status = await session.scalar(
            text("SELECT status FROM bookings WHERE id = :id"), {"id": booked.json()["id"]}
        )
        assert status == "cancelled"
        again = await session.scalar(select(Job).where(Job.kind == closing.WIND_DOWN))
        assert again is not None
        assert again.payload == {"user_id": str(buyer.id)}
        assert again.run_at > utcnow() + timedelta(seconds=30)

    async def test_the_password_confirms_it(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        headers = auth_headers(buyer)

        wrong = await _delete_me(client, headers, "not-my-password")
        missing = await _delete_me(client, headers, None)
        still = await client.get("/api/users/me", headers=headers)

        assert wrong.status_code == missing.status_code == 403
        assert wrong.json()["code"] == missing.json()["code"] == "wrong_password"
        assert still.status_code == 200

    async def test_an_account_without_a_password_needs_none(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        buyer = await create_user(session)
        buyer.password_hash = None  # signs in with Google only
        await session.flush()

        deleted = await client.delete("/api/users/me", headers=auth_headers(buyer))

        assert deleted.status_code == 204, deleted.text

    async def test_organizers_and_staff_are_deleted_by_an_admin(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        for role in (Role.organizer, Role.editor, Role.admin):
            user = await create_user(session, role=role)
            refused = await _delete_me(client, auth_headers(user))
            assert refused.status_code == 403, role
            assert refused.json()["code"] == "self_deletion_not_allowed", role

    async def test_tickets_still_to_come_must_be_cancelled_or_given_away_first(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        coming, past = (
            await create_world(session, price_minor=0),
            await create_world(session, price_minor=0),
        )
        buyer, friend = await create_user(session), await create_user(session)
        headers = auth_headers(buyer)
        upcoming = await free_booking(client, coming, buyer, auth_headers, quantity=2)
        await free_booking(client, past, buyer, auth_headers, quantity=1)
        await session.execute(
            update(Showtime)
            .where(Showtime.id == past.showtime.id)
            .values(starts_at=utcnow() - timedelta(hours=3), ends_at=utcnow() - timedelta(hours=1))
        )

        refused = await _delete_me(client, headers)
        for ticket in upcoming["tickets"]:
            given = await client.post(
                f"/api/tickets/{ticket['id']}/transfer",
                json={"to_email": friend.email},
                headers=headers,
            )
            assert given.status_code == 200, given.text
        deleted = await _delete_me(client, headers)

        assert refused.status_code == 409
        assert refused.json()["code"] == "account_has_tickets"
        assert refused.json()["tickets"] == 2
        # A past showtime's ticket does not stand in the way; given tickets are the friend's.
        assert deleted.status_code == 204, deleted.text
        friends = await client.get("/api/users/me/tickets", headers=auth_headers(friend))
        assert friends.json()["total"] == 2


class TestAdminDelete:
    async def test_an_admins_delete_gives_back_what_the_account_had_going_too(
        self, client: AsyncClient, session: AsyncSession, auth_headers: Headers
    ) -> None:
        world = await create_world(session)
        buyer, admin = await create_user(session), await create_user(session, role=Role.admin)
        assert (await _hold(client, auth_headers(buyer), world)).status_code == 201
        signed_out_at = buyer.token_version

        deleted = await client.delete(f"/api/users/{buyer.id}", headers=auth_headers(admin))

        assert deleted.status_code == 204, deleted.text
        assert (await _going(session, buyer))["units_held"] == 0
        await session.refresh(buyer)
        assert buyer.token_version == signed_out_at + 1  # scrubbed once


class TestRace:
    async def test_holds_signed_in_before_the_deletion_are_given_back_by_the_second_pass(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        worlds = [(await committed_world(committed, 0, ga_capacity=50))[0] for _ in range(6)]
        async with committed() as session:
            buyer = await create_user(session)
            await session.commit()
        headers = auth_headers(buyer)
        async with committed() as blocker:
            # Each hold gets past the sign-in check, then waits for the buyer's lock on its
            # showtime, which this transaction holds until the deletion has committed.
            for world in worlds:
                await blocker.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": f"hold:{buyer.id}:{world.showtime.id}"},
                )
            holding = asyncio.gather(*(_hold(committing_client, headers, w) for w in worlds))
            await asyncio.sleep(0.5)
            deleted = await _delete_me(committing_client, headers)
            await blocker.commit()
        held = await holding

        assert deleted.status_code == 204, deleted.text
        assert [r.status_code for r in held] == [201] * 6
        async with committed() as session:
            assert (await _going(session, buyer))["units_held"] == 12
            # The worker's second pass, a minute later.
            await closing._wind_down_again(session, {"user_id": str(buyer.id)})
            await session.commit()
        async with committed() as session:
            assert await _going(session, buyer) == dict.fromkeys(
                ("units_held", "live_holds", "unpaid_bookings", "waiting"), 0
            )
            states = await session.execute(
                text(
                    "SELECT state, count(*) FROM inventory_units WHERE showtime_id = ANY(:ids)"
                    " GROUP BY state"
                ),
                {"ids": [w.showtime.id for w in worlds]},
            )
            assert dict(states.all()).keys() == {"available"}


class TestDeletingWhileTheShowtimeIsCancelled:
    async def test_accounts_deleted_as_the_organizer_cancels(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
        one_version_shard: None,
    ) -> None:
        # Each buyer has a pending booking, a live hold and a waitlist entry on one showtime.
        # An admin deletes their accounts (no password to check, so the deletes and the
        # cancel overlap) while the organizer cancels it: both give back the same
        # entries, holds and bookings, so they must take them in one order (entries, holds,
        # bookings) or deadlock. Whichever comes first, nothing is left going.
        for round_ in range(4):
            world, buyers, admin = await committed_world(committed, 8, rows=2, seats_per_row=10)
            showtime = str(world.showtime.id)
            for buyer in buyers:
                headers = auth_headers(buyer)
                for path in ("/api/bookings", "/api/bookings/hold-seats", "/api/waitlists"):
                    made = await committing_client.post(
                        path, json={"showtime_id": showtime, "quantity": 1}, headers=headers
                    )
                    assert made.status_code in {200, 201}, made.text
            rng = random.Random(round_)

            async def delete(buyer: User, delay: float, admin: User = admin) -> Response:
                await asyncio.sleep(delay)
                response: Response = await committing_client.delete(
                    f"/api/users/{buyer.id}", headers=auth_headers(admin)
                )
                return response

            deleting = [asyncio.create_task(delete(b, rng.uniform(0, 0.04))) for b in buyers]
            await asyncio.sleep(rng.uniform(0, 0.02))
            cancelled = await committing_client.post(
                f"/api/showtimes/{showtime}/cancel", headers=auth_headers(world.organizer)
            )
            deleted = await asyncio.gather(*deleting)
            assert cancelled.status_code == 200, cancelled.text
            assert [d.status_code for d in deleted] == [204] * len(buyers), [
                d.text for d in deleted
            ]
            async with committed() as session:
                for buyer in buyers:
                    assert await _going(session, buyer) == dict.fromkeys(
                        ("units_held", "live_holds", "unpaid_bookings", "waiting"), 0
                    )

    async def test_a_delete_and_a_cancel_take_the_buyers_things_in_one_order(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        auth_headers: Headers,
    ) -> None:
        # The interleaving that deadlocked, step by step. The delete is held up at the
        # buyer's booking (a session has its row locked). The cancel starts and waits too.
        # Had the delete released the buyer's hold before reaching the booking, the cancel
        # would wait for that hold while holding the buyer's waitlist entry, which the
        # delete takes next: a circle. Both take the entry first now, so when the booking
        # is let go, both finish.
        world, (buyer,), admin = await committed_world(committed, 1)
        showtime = str(world.showtime.id)
        made = {}
        for path in ("/api/bookings", "/api/bookings/hold-seats", "/api/waitlists"):
            response = await committing_client.post(
                path, json={"showtime_id": showtime, "quantity": 1}, headers=auth_headers(buyer)
            )
            assert response.status_code in {200, 201}, response.text
            made[path] = response.json()["id"]
        async with committed() as blocking, blocking.begin():
            await blocking.execute(
                text("SELECT 1 FROM bookings WHERE id = CAST(:id AS uuid) FOR NO KEY UPDATE"),
                {"id": made["/api/bookings"]},
            )
            deleting = asyncio.create_task(
                committing_client.delete(f"/api/users/{buyer.id}", headers=auth_headers(admin))
            )
            await until_waiting_for_locks(committed)
            cancelling = asyncio.create_task(
                committing_client.post(
                    f"/api/showtimes/{showtime}/cancel", headers=auth_headers(world.organizer)
                )
            )
            await until_waiting_for_locks(committed, 2)
        deleted, cancelled = await deleting, await cancelling
        assert deleted.status_code == 204, deleted.text
        assert cancelled.status_code == 200, cancelled.text
        async with committed() as session:
            assert await _going(session, buyer) == dict.fromkeys(
                ("units_held", "live_holds", "unpaid_bookings", "waiting"), 0
            )
