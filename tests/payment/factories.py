import uuid
from datetime import timedelta
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.booking import flows
from boxoffice.booking.models import Booking, BookingStatus, Hold, HoldStatus
from boxoffice.booking.schemas import BookingCreate
from boxoffice.catalog.models import PriceTier
from boxoffice.config import Settings
from boxoffice.kit.time import utcnow
from boxoffice.payment import service
from boxoffice.payment.models import Payment
from boxoffice.payment.providers.base import PaymentProvider
from tests.booking.factories import World, create_world
from tests.factories import bearer


async def create_booking(
    session: AsyncSession,
    *,
    user: User,
    price_minor: int = 5000,
    currency: str = "USD",
    quantity: int = 1,
) -> Booking:
    """A pending-payment booking of `quantity` seats at `price_minor` each, for `user`."""
    world = await create_world(
        session, rows=1, seats_per_row=max(quantity, 2), price_minor=price_minor
    )
    await session.execute(
        update(PriceTier)
        .where(PriceTier.showtime_id == world.showtime.id)
        .values(currency=currency)
    )
    booked = await flows.book(
        session, user, BookingCreate(showtime_id=world.showtime.id, quantity=quantity), Settings()
    )
    booking = await session.get(Booking, booked.id)
    assert booking is not None
    return booking


async def create_payment(
    session: AsyncSession,
    provider: PaymentProvider,
    *,
    user: User,
    amount_minor: int = 5000,
    currency: str = "USD",
    booking_id: uuid.UUID | None = None,
) -> Payment:
    """A payment attempt opened at `provider` for a booking (a new pending one by default)."""
    if booking_id is None:
        booking = await create_booking(
            session, user=user, price_minor=amount_minor, currency=currency
        )
        booking_id = booking.id
    payment, _ = await service.initiate(
        session,
        provider,
        booking_id=booking_id,
        user_id=user.id,
        amount_due_minor=amount_minor,
        currency=currency,
    )
    return payment


async def booking_rows(session: AsyncSession, count: int) -> list[uuid.UUID]:
    """`count` bare pending bookings (no units, no tickets) for tests that only need rows
    to reference, e.g. coupon redemptions."""
    world = await create_world(session, rows=1, seats_per_row=2)
    user = world.organizer
    hold = Hold(
        showtime_id=world.showtime.id,
        user_id=user.id,
        status=HoldStatus.converted,
        quantity=1,
        expires_at=utcnow() + timedelta(minutes=10),
        max_expires_at=utcnow() + timedelta(minutes=10),
    )
    session.add(hold)
    await session.flush()
    ids = [uuid.uuid4() for _ in range(count)]
    session.add_all(
        Booking(
            id=booking_id,
            user_id=user.id,
            showtime_id=world.showtime.id,
            event_id=world.event.id,
            hold_id=hold.id,
            status=BookingStatus.pending_payment,
            quantity=1,
            total_minor=5000,
            currency="USD",
            expires_at=utcnow() + timedelta(minutes=10),
            version=1,
            complimentary=False,
        )
        for booking_id in ids
    )
    await session.flush()
    return ids


async def book_over_http(
    client: AsyncClient,
    settings: Settings,
    buyer: User,
    world: World,
    quantity: int = 2,
    **body: Any,
) -> dict[str, Any]:
    """A one-call booking of `world`'s showtime through the API (with `coupon_code`,
    `access_code`, ... in `body`), made for sure."""
    response = await client.post(
        "/api/bookings",
        json={"showtime_id": str(world.showtime.id), "quantity": quantity, **body},
        headers=bearer(settings, buyer),
    )
    assert response.status_code == 201, response.text
    booking: dict[str, Any] = response.json()
    return booking


async def initiate_over_http(
    client: AsyncClient, settings: Settings, buyer: User, booking_id: object, **extra: object
) -> dict[str, Any]:
    """Start paying `booking_id` through the API (201 for sure): the payment and its secret."""
    response = await client.post(
        "/api/payments/initiate",
        json={"booking_id": booking_id, **extra},
        headers=bearer(settings, buyer),
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def pay_over_http(
    client: AsyncClient, settings: Settings, buyer: User, payment_id: object, card: str
) -> Response:
    """Confirm a payment through the API with the sandbox's test `card`."""
    return await client.post(
        "/api/payments/confirm",
        json={"payment_id": str(payment_id), "card_number": card},
        headers=bearer(settings, buyer),
    )
