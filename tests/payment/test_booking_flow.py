"""Paying for bookings over HTTP: initiate, confirm, webhooks, late payments, refunds."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.auth.models import Role, User
from boxoffice.booking import service as booking_service
from boxoffice.booking.models import Booking
from boxoffice.catalog.models import Showtime
from boxoffice.config import Settings
from boxoffice.kit.outbox import OutboxEvent, Topic
from boxoffice.kit.time import utcnow
from boxoffice.notification.handlers import HANDLERS
from boxoffice.notification.models import NotificationKind
from boxoffice.payment.models import Payment
from boxoffice.payment.providers.sandbox import SandboxProvider
from tests.booking.factories import World, create_world, unit_states
from tests.factories import bearer, create_user
from tests.payment.events import intent_event, signed
from tests.payment.factories import book_over_http as _book
from tests.payment.factories import initiate_over_http as _initiate
from tests.payment.factories import pay_over_http as _pay

WEBHOOK = "/api/payments/webhooks/sandbox"
SUCCESS_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


async def _expire(session: AsyncSession, booking_id: str) -> None:
    await session.execute(
        update(Booking)
        .where(Booking.id == uuid.UUID(booking_id))
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    assert await booking_service.expire_booking(session, uuid.UUID(booking_id)) is True


def _succeeded(payment: dict[str, object], event_id: str = "evt_ok") -> bytes:
    payment_body = payment["payment"]
    assert isinstance(payment_body, dict)
    return intent_event(
        "payment_intent.succeeded",
        payment_body["provider_ref"],
        amount_minor=payment_body["amount_minor"],
        event_id=event_id,
    )


class TestInitiate:
    async def test_the_amount_comes_from_the_booking_and_the_client_gets_a_secret(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world)

        started = await _initiate(client, settings, buyer, booking["id"], amount="50.00")

        assert started["payment"]["amount_minor"] == 5000
        assert started["payment"]["currency"] == "USD"
        assert started["payment"]["booking_id"] == booking["id"]
        assert started["provider"] == "sandbox"
        assert isinstance(started["client_secret"], str)

    async def test_a_different_client_amount_is_refused(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world)

        for body in ({"amount": "1.00"}, {"amount_minor": 4999}, {"amount": "50.001"}):
            response = await client.post(
                "/api/payments/initiate",
                json={"booking_id": booking["id"], **body},
                headers=bearer(settings, buyer),
            )
            assert response.status_code == 422, body
            assert response.json()["code"] == "amount_mismatch"

    async def test_only_the_owner_of_a_live_pending_booking_may_pay(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        stranger = await create_user(session)
        booking = await _book(client, settings, buyer, world)

        other = await client.post(
            "/api/payments/initiate",
            json={"booking_id": booking["id"]},
            headers=bearer(settings, stranger),
        )
        await _expire(session, str(booking["id"]))
        late = await client.post(
            "/api/payments/initiate",
            json={"booking_id": booking["id"]},
            headers=bearer(settings, buyer),
        )

        assert other.status_code == 404
        assert other.json()["code"] == "booking_not_found"
        assert late.status_code == 410
        assert late.json()["code"] == "booking_expired"

    async def test_a_repeated_idempotency_key_opens_one_payment(
        self,
        committing_client: AsyncClient,
        committing_sandbox: SandboxProvider,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, price_minor=2500)
            buyer = await create_user(session)
            await session.commit()
        booking = await _book(committing_client, settings, buyer, world)
        headers = {**bearer(settings, buyer), "Idempotency-Key": "pay-once"}

        first = await committing_client.post(
            "/api/payments/initiate", json={"booking_id": booking["id"]}, headers=headers
        )
        second = await committing_client.post(
            "/api/payments/initiate", json={"booking_id": booking["id"]}, headers=headers
        )

        assert first.status_code == second.status_code == 201
        assert first.json()["payment"]["id"] == second.json()["payment"]["id"]
        async with committed() as session:
            count = await session.scalar(select(func.count()).select_from(Payment))
        assert count == 1


class TestConfirm:
    async def test_paying_confirms_the_booking_with_issued_tickets(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world)
        started = await _initiate(client, settings, buyer, booking["id"])

        paid = await _pay(client, settings, buyer, started["payment"]["id"], SUCCESS_CARD)
        after = await client.get(f"/api/bookings/{booking['id']}", headers=bearer(settings, buyer))

        assert paid.status_code == 200
        assert paid.json()["status"] == "succeeded"
        assert after.json()["status"] == "confirmed"
        tickets = after.json()["tickets"]
        assert [t["status"] for t in tickets] == ["issued", "issued"]
        assert all(t["code"] for t in tickets)
        assert (await unit_states(session, world.showtime)).get("sold") == 2

    async def test_a_declined_card_leaves_the_booking_pending_and_its_units_held(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world)
        started = await _initiate(client, settings, buyer, booking["id"])

        declined = await _pay(client, settings, buyer, started["payment"]["id"], DECLINED_CARD)
        after = await client.get(f"/api/bookings/{booking['id']}", headers=bearer(settings, buyer))

        assert declined.json()["status"] == "failed"
        assert after.json()["status"] == "pending_payment"
        assert (await unit_states(session, world.showtime)).get("held") == 2

    async def test_a_forged_webhook_changes_nothing(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world)
        started = await _initiate(client, settings, buyer, booking["id"])
        body = _succeeded(started)

        forged = await client.post(WEBHOOK, content=body, headers=signed(body, "whsec_forged"))
        after = await client.get(f"/api/bookings/{booking['id']}", headers=bearer(settings, buyer))

        assert forged.status_code in (400, 401)
        assert after.json()["status"] == "pending_payment"


class TestConcurrentWebhooks:
    async def test_repeated_concurrent_webhooks_confirm_the_booking_once(
        self,
        committing_client: AsyncClient,
        committing_sandbox: SandboxProvider,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, price_minor=2500)
            buyer = await create_user(session)
            await session.commit()
        booking = await _book(committing_client, settings, buyer, world)
        started = await _initiate(committing_client, settings, buyer, booking["id"])
        deliveries = [_succeeded(started, "evt_ok")] * 8 + [_succeeded(started, "evt_again")] * 4

        responses = await asyncio.gather(
            *(committing_client.post(WEBHOOK, content=b, headers=signed(b)) for b in deliveries)
        )

        assert [r.status_code for r in responses] == [200] * len(deliveries)
        async with committed() as session:
            stored = await session.get(Booking, uuid.UUID(str(booking["id"])))
            assert stored is not None
            assert stored.status == "confirmed"
            confirmations = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == Topic.booking_confirmed.value)
            )
            assert confirmations == 1
            assert (await unit_states(session, world.showtime)).get("sold") == 2


class TestLatePayment:
    async def test_a_late_payment_is_accepted_while_the_units_are_free(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _book(client, settings, buyer, world)
        started = await _initiate(client, settings, buyer, booking["id"])
        await _expire(session, str(booking["id"]))

        response = await _pay(client, settings, buyer, started["payment"]["id"], SUCCESS_CARD)
        after = await client.get(f"/api/bookings/{booking['id']}", headers=bearer(settings, buyer))

        assert response.status_code == 200
        assert after.json()["status"] == "confirmed"
        assert [t["status"] for t in after.json()["tickets"]] == ["issued", "issued"]
        stored = await session.get(Booking, uuid.UUID(str(booking["id"])))
        assert stored is not None
        assert stored.meta["payments"][-1]["outcome"] == "late_payment_accepted"
        assert (await unit_states(session, world.showtime)).get("sold") == 2

    async def test_a_late_payment_is_refunded_when_the_units_were_taken(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, rows=1, seats_per_row=2, price_minor=2500)
        buyer = await create_user(session)
        rival = await create_user(session)
        booking = await _book(client, settings, buyer, world)
        started = await _initiate(client, settings, buyer, booking["id"])
        await _expire(session, str(booking["id"]))
        await _book(client, settings, rival, world)

        response = await _pay(client, settings, buyer, started["payment"]["id"], SUCCESS_CARD)

        assert response.status_code == 200
        payment = await client.get(
            f"/api/payments/{started['payment']['id']}",
            headers=bearer(settings, buyer),
        )
        assert payment.json()["status"] == "succeeded"
        assert payment.json()["refunded_minor"] == 5000
        assert payment.json()["refunds"][0]["reason"] == "late payment"
        stored = await session.get(Booking, uuid.UUID(str(booking["id"])))
        assert stored is not None
        assert stored.status == "expired"
        assert stored.meta["payments"][-1]["outcome"] == "late_payment_refunded"


class TestRefunds:
    async def test_a_full_refund_marks_the_booking_refunded_and_frees_its_units(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        admin = await create_user(session, role=Role.admin)
        booking = await _book(client, settings, buyer, world)
        started = await _initiate(client, settings, buyer, booking["id"])
        payment_id = started["payment"]["id"]
        await _pay(client, settings, buyer, payment_id, SUCCESS_CARD)

        refund = await client.post(
            f"/api/payments/{payment_id}/refunds",
            json={"reason": "goodwill"},
            headers=bearer(settings, admin),
        )
        after = await client.get(f"/api/bookings/{booking['id']}", headers=bearer(settings, buyer))

        assert refund.status_code == 201
        assert refund.json()["amount_minor"] == 5000
        assert after.json()["status"] == "refunded"
        assert {t["status"] for t in after.json()["tickets"]} == {"void"}
        states = await unit_states(session, world.showtime)
        assert "sold" not in states
        assert "held" not in states


async def _paid_booking(
    client: AsyncClient, settings: Settings, buyer: User, world: World
) -> dict[str, object]:
    booking = await _book(client, settings, buyer, world)
    started = await _initiate(client, settings, buyer, booking["id"])
    paid = await _pay(client, settings, buyer, started["payment"]["id"], SUCCESS_CARD)
    assert paid.json()["status"] == "succeeded"
    return {**booking, "payment_id": started["payment"]["id"]}


async def _buyer_cancels(
    client: AsyncClient, settings: Settings, buyer: User, booking: dict[str, object]
) -> Response:
    return await client.post(
        f"/api/bookings/{booking['id']}/cancel", headers=bearer(settings, buyer)
    )


async def _refunded_minor(
    client: AsyncClient, settings: Settings, buyer: User, booking: dict[str, object]
) -> int:
    """What the booking's payment has refunded, as its buyer reads it."""
    payment = await client.get(
        f"/api/payments/{booking['payment_id']}", headers=bearer(settings, buyer)
    )
    refunded: int = payment.json()["refunded_minor"]
    return refunded


class TestBuyerCancellation:
    async def test_cancelling_a_paid_booking_in_the_window_refunds_less_the_fee(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        world.event.refund_fee_percent_bp = 1000
        buyer = await create_user(session)
        booking = await _paid_booking(client, settings, buyer, world)

        cancelled = await _buyer_cancels(client, settings, buyer, booking)
        refunded = await _refunded_minor(client, settings, buyer, booking)

        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "refunded"
        assert refunded == 4500
        assert "sold" not in await unit_states(session, world.showtime)

    async def test_after_the_cut_off_a_paid_booking_cannot_be_cancelled(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        world.event.refund_cutoff_hours = 24 * 30
        buyer = await create_user(session)
        booking = await _paid_booking(client, settings, buyer, world)

        refused = await _buyer_cancels(client, settings, buyer, booking)
        after = await client.get(f"/api/bookings/{booking['id']}", headers=bearer(settings, buyer))

        assert refused.status_code == 422
        assert refused.json()["code"] == "refund_window_closed"
        assert after.json()["status"] == "confirmed"
        assert (await unit_states(session, world.showtime)).get("sold") == 2


async def _moved_world(
    committed: async_sessionmaker[AsyncSession],
) -> tuple[World, User, User]:
    """A paid showtime whose event refunds nothing this close to it, and two buyers."""
    async with committed() as session:
        world = await create_world(session, price_minor=2500)
        world.event.refund_cutoff_hours = 24 * 30
        world.event.refund_fee_percent_bp = 1000
        before, after = await create_user(session), await create_user(session)
        await session.commit()
    return world, before, after


async def _move(client: AsyncClient, settings: Settings, world: World) -> None:
    moved = await client.put(
        f"/api/showtimes/{world.showtime.id}",
        json={"starts_at": (world.showtime.starts_at + timedelta(days=3)).isoformat()},
        headers=bearer(settings, world.organizer),
    )
    assert moved.status_code == 200, moved.text


class TestRescheduledShowtime:
    """Committed for real: who paid before the move is told apart by transaction times."""

    async def test_buyers_who_paid_before_a_move_cancel_for_the_full_price(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        committing_sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        client = committing_client
        world, before, after = await _moved_world(committed)
        paid_before = await _paid_booking(client, settings, before, world)
        await _move(client, settings, world)
        paid_after = await _paid_booking(client, settings, after, world)

        refunded = await _buyer_cancels(client, settings, before, paid_before)
        refused = await _buyer_cancels(client, settings, after, paid_after)
        refunded_minor = await _refunded_minor(client, settings, before, paid_before)

        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["status"] == "refunded"
        # The full price: no fee, and past the event's cut-off.
        assert refunded_minor == 5000
        # Who bought knowing the new time gets the event's policy.
        assert refused.status_code == 422
        assert refused.json()["code"] == "refund_window_closed"
        async with committed() as session:
            assert (await unit_states(session, world.showtime)).get("sold") == 2

    async def test_the_full_refund_ends_when_the_moved_showtime_starts(
        self,
        committing_client: AsyncClient,
        committed: async_sessionmaker[AsyncSession],
        committing_sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        client = committing_client
        world, buyer, _ = await _moved_world(committed)
        booking = await _paid_booking(client, settings, buyer, world)
        await _move(client, settings, world)
        async with committed() as session, session.begin():
            await session.execute(
                update(Showtime)
                .where(Showtime.id == world.showtime.id)
                .values(starts_at=utcnow() - timedelta(minutes=1))
            )

        refused = await _buyer_cancels(client, settings, buyer, booking)

        assert refused.status_code == 422
        assert refused.json()["code"] == "refund_window_closed"


async def _paid_and_given(
    client: AsyncClient, session: AsyncSession, settings: Settings
) -> tuple[World, User, User, dict[str, object], tuple[str, str]]:
    """A paid booking of two tickets whose buyer gave the first to a friend: the world, the
    buyer, the friend, the booking, and the ids of the ticket given and the one kept."""
    world = await create_world(session, price_minor=2500)
    buyer, friend = await create_user(session), await create_user(session)
    booking = await _paid_booking(client, settings, buyer, world)
    mine = await client.get("/api/users/me/tickets", headers=bearer(settings, buyer))
    given, kept = (str(t["id"]) for t in mine.json()["items"])
    moved = await client.post(
        f"/api/tickets/{given}/transfer",
        json={"to_email": friend.email},
        headers=bearer(settings, buyer),
    )
    assert moved.status_code == 200, moved.json()
    return world, buyer, friend, booking, (given, kept)


async def _voided_intents(session: AsyncSession) -> list[Any]:
    """What the notification handler makes of each `ticket.voided` event so far."""
    events = (
        await session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == Topic.ticket_voided.value)
        )
    ).all()
    return [i for e in events for i in await HANDLERS[Topic.ticket_voided](session, e)]


class TestStaffRefund:
    async def test_whom_a_refunded_ticket_was_given_to_is_told(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world, _buyer, friend, booking, (given, kept) = await _paid_and_given(
            client, session, settings
        )
        staff = bearer(settings, world.organizer)
        # Refunding the ticket the buyer kept tells nobody else.
        await client.post(
            f"/api/bookings/{booking['id']}/refund", json={"ticket_ids": [kept]}, headers=staff
        )
        assert await _voided_intents(session) == []
        refunded = await client.post(
            f"/api/bookings/{booking['id']}/refund", json={"ticket_ids": [given]}, headers=staff
        )
        assert refunded.status_code == 200, refunded.text
        (intent,) = await _voided_intents(session)
        assert (intent.user_id, intent.kind) == (friend.id, NotificationKind.ticket_voided)
        assert (intent.data["ticket_id"], intent.data["reason"]) == (given, "refunded")
        assert intent.data["event_title"] == world.event.title
        left = await client.get("/api/users/me/tickets", headers=bearer(settings, friend))
        assert left.json()["total"] == 0

    async def test_the_organizer_refunds_one_ticket_then_the_other(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _paid_booking(client, settings, buyer, world)
        tickets = booking["tickets"]
        assert isinstance(tickets, list)
        staff = bearer(settings, world.organizer)

        first = await client.post(
            f"/api/bookings/{booking['id']}/refund",
            json={"ticket_ids": [tickets[0]["id"]]},
            headers=staff,
        )
        second = await client.post(
            f"/api/bookings/{booking['id']}/refund",
            json={"ticket_ids": [tickets[1]["id"]]},
            headers=staff,
        )
        refunded = await _refunded_minor(client, settings, buyer, booking)

        assert first.status_code == 200, first.text
        assert first.json()["status"] == "confirmed"
        assert [t["status"] for t in first.json()["tickets"]].count("void") == 1
        assert second.json()["status"] == "refunded"
        assert refunded == 5000
        assert "sold" not in await unit_states(session, world.showtime)

    async def test_a_buyer_cannot_use_the_staff_refund(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer = await create_user(session)
        booking = await _paid_booking(client, settings, buyer, world)

        response = await client.post(
            f"/api/bookings/{booking['id']}/refund", json={}, headers=bearer(settings, buyer)
        )

        assert response.status_code == 404
        assert response.json()["code"] == "booking_not_found"


class TestShowtimeCancellation:
    async def test_cancelling_a_showtime_refunds_every_paid_booking_and_cancels_the_rest(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyers = [await create_user(session) for _ in range(4)]
        paid = [await _paid_booking(client, settings, b, world) for b in buyers[:3]]
        unpaid = await _book(client, settings, buyers[3], world)

        response = await client.post(
            f"/api/showtimes/{world.showtime.id}/cancel", headers=bearer(settings, world.organizer)
        )

        assert response.status_code == 200, response.text
        for booking, buyer in zip(paid, buyers, strict=False):
            refunded = await _refunded_minor(client, settings, buyer, booking)
            assert refunded == 5000
            stored = await session.get(Booking, uuid.UUID(str(booking["id"])))
            assert stored is not None
            assert stored.status == "refunded"
        left = await session.get(Booking, uuid.UUID(str(unpaid["id"])))
        assert left is not None
        assert left.status == "cancelled"
        states = await unit_states(session, world.showtime)
        assert set(states) == {"available"}
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == Topic.showtime_cancelled.value)
        )
        assert event is not None
        assert set(event.payload["user_ids"]) == {str(b.id) for b in buyers}


class TestEventCancellation:
    async def test_cancelling_an_event_refunds_the_paid_bookings_of_its_showtimes(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world = await create_world(session, price_minor=2500)
        buyer, holding, waiting = [await create_user(session) for _ in range(3)]
        booking = await _paid_booking(client, settings, buyer, world)
        # Someone holds a seat, someone else waits: the cancel releases and closes both.
        showtime = {"showtime_id": str(world.showtime.id), "quantity": 1}
        held = await client.post(
            "/api/bookings/hold-seats", json=showtime, headers=bearer(settings, holding)
        )
        joined = await client.post(
            "/api/waitlists", json=showtime, headers=bearer(settings, waiting)
        )
        assert (held.status_code, joined.status_code) == (201, 201), joined.text

        response = await client.post(
            f"/api/events/{world.event.id}/cancel", headers=bearer(settings, world.organizer)
        )

        assert response.status_code == 200, response.text
        stored = await session.get(Booking, uuid.UUID(str(booking["id"])))
        assert stored is not None
        assert stored.status == "refunded"
        statuses = await session.execute(
            text(
                "SELECT (SELECT status FROM holds WHERE id = CAST(:hold AS uuid)),"
                " (SELECT status FROM waitlist_entries WHERE id = CAST(:entry AS uuid))"
            ),
            {"hold": held.json()["id"], "entry": joined.json()["id"]},
        )
        assert tuple(statuses.one()) == ("released", "cancelled")
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == Topic.event_cancelled.value)
        )
        assert event is not None
        assert event.payload["user_ids"] == [str(buyer.id), str(holding.id), str(waiting.id)]

    async def test_whom_a_ticket_was_given_to_is_told_too_and_the_buyer_is_refunded(
        self,
        client: AsyncClient,
        session: AsyncSession,
        sandbox: SandboxProvider,
        settings: Settings,
    ) -> None:
        world, buyer, friend, booking, _ = await _paid_and_given(client, session, settings)

        response = await client.post(
            f"/api/events/{world.event.id}/cancel", headers=bearer(settings, world.organizer)
        )

        assert response.status_code == 200, response.text
        refunded = await _refunded_minor(client, settings, buyer, booking)
        assert refunded == 5000
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == Topic.event_cancelled.value)
        )
        assert event is not None
        assert event.payload["user_ids"] == [str(buyer.id), str(friend.id)]
        left = await client.get("/api/users/me/tickets", headers=bearer(settings, friend))
        assert left.json()["total"] == 0
        # The cancellation told them; the voided ticket does not tell them again.
        assert await _voided_intents(session) == []


class TestIdempotentMoney:
    async def test_a_repeated_staff_refund_and_confirm_happen_once(
        self,
        committing_client: AsyncClient,
        committing_sandbox: SandboxProvider,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, price_minor=2500)
            buyer = await create_user(session)
            admin = await create_user(session, role=Role.admin)
            await session.commit()
        booking = await _book(committing_client, settings, buyer, world)
        started = await _initiate(committing_client, settings, buyer, booking["id"])
        confirm = {"payment_id": started["payment"]["id"], "card_number": SUCCESS_CARD}
        buyer_key = {**bearer(settings, buyer), "Idempotency-Key": "confirm-1"}
        confirms = [
            await committing_client.post("/api/payments/confirm", json=confirm, headers=buyer_key)
            for _ in range(2)
        ]
        admin_key = {**bearer(settings, admin), "Idempotency-Key": "refund-1"}
        refunds = [
            await committing_client.post(
                f"/api/bookings/{booking['id']}/refund", json={}, headers=admin_key
            )
            for _ in range(2)
        ]

        assert [r.status_code for r in confirms] == [200, 200]
        assert confirms[0].json() == confirms[1].json()
        assert [r.status_code for r in refunds] == [200, 200]
        assert refunds[0].json() == refunds[1].json()
        assert refunds[0].json()["status"] == "refunded"
        async with committed() as session:
            payment = await session.get(Payment, uuid.UUID(confirm["payment_id"]))
            assert payment is not None
            assert payment.refunded_minor == 5000
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == Topic.refund_issued.value)
            )
            assert count == 1


class TestRefundRaces:
    async def test_racing_buyer_cancel_staff_refund_and_showtime_cancel_refund_once(
        self,
        committing_client: AsyncClient,
        committing_sandbox: SandboxProvider,
        committed: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        async with committed() as session:
            world = await create_world(session, price_minor=2500)
            buyer = await create_user(session)
            admin = await create_user(session, role=Role.admin)
            await session.commit()
        booking = await _book(committing_client, settings, buyer, world)
        started = await _initiate(committing_client, settings, buyer, booking["id"])
        payment_id = started["payment"]["id"]
        paid = await _pay(committing_client, settings, buyer, payment_id, SUCCESS_CARD)
        assert paid.status_code == 200, paid.text

        responses = await asyncio.gather(
            committing_client.post(
                f"/api/bookings/{booking['id']}/cancel", headers=bearer(settings, buyer)
            ),
            committing_client.post(
                f"/api/bookings/{booking['id']}/refund", json={}, headers=bearer(settings, admin)
            ),
            committing_client.post(
                f"/api/showtimes/{world.showtime.id}/cancel", headers=bearer(settings, admin)
            ),
            committing_client.post(
                f"/api/bookings/{booking['id']}/cancel", headers=bearer(settings, buyer)
            ),
        )

        assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
        assert any(r.status_code == 200 for r in responses[:3])
        # Every path locks the booking before its payment: they queue, none deadlocks.
        codes = {r.json().get("code") for r in responses if r.status_code == 409}
        assert "serialization_conflict" not in codes, [r.text for r in responses]
        async with committed() as session:
            payment = await session.get(Payment, uuid.UUID(str(payment_id)))
            stored = await session.get(Booking, uuid.UUID(str(booking["id"])))
            states = await unit_states(session, world.showtime)
            refunds = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == Topic.refund_issued.value)
            )
        assert payment is not None
        assert stored is not None
        assert payment.refunded_minor == 5000, "refunded in full, exactly once"
        assert refunds == 1
        assert stored.status.value in {"refunded", "cancelled"}
        assert states.get("sold", 0) == 0
        assert states.get("held", 0) == 0
