import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth.models import User
from boxoffice.payment import service
from boxoffice.payment.models import Payment
from boxoffice.payment.providers.base import PaymentProvider


async def create_payment(
    session: AsyncSession,
    provider: PaymentProvider,
    *,
    user: User,
    amount_minor: int = 5000,
    currency: str = "USD",
    booking_id: uuid.UUID | None = None,
) -> Payment:
    """A payment attempt opened at `provider` for a booking id (bookings live elsewhere)."""
    payment, _ = await service.initiate(
        session,
        provider,
        booking_id=booking_id or uuid.uuid4(),
        user_id=user.id,
        amount_due_minor=amount_minor,
        currency=currency,
    )
    return payment
