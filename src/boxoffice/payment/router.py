import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from boxoffice.auth.dependencies import AppSettings, CurrentUser, current_user, require
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission
from boxoffice.booking import payments as booking_payments
from boxoffice.booking import service as booking_service
from boxoffice.booking.schemas import BookingOut
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.idempotency import Idempotency, idempotency_dependency
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.money import to_minor
from boxoffice.kit.pagination import Page, Pagination
from boxoffice.payment import booking_refunds, refunds, service, webhooks
from boxoffice.payment.dependencies import Provider
from boxoffice.payment.errors import AmountMismatch
from boxoffice.payment.models import PaymentStatus
from boxoffice.payment.schemas import (
    BookingRefund,
    Payment,
    PaymentConfirm,
    PaymentInitiate,
    PaymentInitiated,
    Refund,
    RefundCreate,
    WebhookReceipt,
    payment_out,
)

Idempotent = Annotated[Idempotency, Depends(idempotency_dependency(current_user))]

router = APIRouter(
    prefix="/api/payments", tags=["payments"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


@router.post(
    "/webhooks/{provider_name}",
    response_model=WebhookReceipt,
    summary="Receive a provider webhook (signature-verified, deduplicated by event id)",
)
async def receive_webhook(
    provider_name: str, request: Request, session: Session, provider: Provider
) -> WebhookReceipt:
    result = await webhooks.process_webhook(
        session, provider, provider_name, dict(request.headers), await request.body()
    )
    return WebhookReceipt(
        duplicate=result.duplicate, outcome=result.outcome, payment_id=result.payment_id
    )


@router.post(
    "/initiate",
    response_model=PaymentInitiated,
    status_code=201,
    summary="Start paying your pending booking: the amount is the booking's",
)
async def initiate_payment(
    body: PaymentInitiate,
    session: Session,
    user: CurrentUser,
    provider: Provider,
    idem: Idempotent,
) -> PaymentInitiated:
    booking = await booking_payments.payable(session, user, body.booking_id)
    client_minor = body.amount_minor
    if body.amount is not None:
        converted = to_minor(body.amount, booking.currency)
        if converted is None or (client_minor is not None and converted != client_minor):
            raise AmountMismatch(
                f"The amount due is {booking.total_minor} {booking.currency} minor units",
                extra={"amount_due_minor": booking.total_minor, "currency": booking.currency},
            )
        client_minor = converted
    payment, opened = await service.initiate(
        session,
        provider,
        booking_id=booking.id,
        user_id=user.id,
        amount_due_minor=booking.total_minor,
        currency=booking.currency,
        client_amount_minor=client_minor,
        client_currency=body.currency,
    )
    await session.refresh(payment)
    out = PaymentInitiated(
        payment=payment_out(payment, []),
        provider=provider.name,
        client_secret=opened.client_secret,
        order_id=opened.ref if provider.name == "razorpay" else None,
    )
    await idem.record(session, 201, out)
    return out


@router.post(
    "/confirm",
    response_model=Payment,
    summary="Confirm a payment after the buyer paid: the provider's verdict is applied",
)
async def confirm_payment(
    body: PaymentConfirm,
    session: Session,
    user: CurrentUser,
    provider: Provider,
    idem: Idempotent,
) -> Payment:
    payment = await service.confirm(
        session, provider, user, body.payment_id, body.provider_params()
    )
    out = payment_out(payment, await service.refunds_of(session, payment))
    await idem.record(session, 200, out)
    return out


@router.get("", response_model=Page[Payment], summary="List payments (own; admins: all)")
async def list_payments(
    request: Request,
    session: Session,
    user: CurrentUser,
    page: Pagination,
    booking_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[PaymentStatus | None, Query()] = None,
) -> Page[Payment]:
    payments, total = await service.list_payments(
        session, user, page, booking_id=booking_id, status=status
    )
    return Page[Payment].build([Payment.model_validate(p) for p in payments], total, page, request)


@router.post(
    "/{payment_id}/refunds",
    response_model=Refund,
    status_code=201,
    summary="Refund a payment, fully or partly (admins)",
)
async def refund_payment(
    payment_id: uuid.UUID,
    body: RefundCreate,
    session: Session,
    user: Annotated[User, Depends(require(Permission.payment_refund_any))],
    provider: Provider,
    idem: Idempotent,
) -> Refund:
    row = await refunds.refund(
        session,
        provider,
        payment_id,
        body.amount_minor,
        reason=body.reason,
        initiated_by=user.id,
        actor=user,
    )
    out = Refund.model_validate(row)
    await idem.record(session, 201, out)
    return out


@router.get("/{payment_id}", response_model=Payment, summary="A payment with its refunds")
async def get_payment(payment_id: uuid.UUID, session: Session, user: CurrentUser) -> Payment:
    payment = await service.get_payment(session, user, payment_id)
    return payment_out(payment, await service.refunds_of(session, payment))


bookings_router = APIRouter(
    prefix="/api/bookings", tags=["bookings"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


@bookings_router.post(
    "/{booking_id}/refund",
    response_model=BookingOut,
    summary="Refund a paid booking, whole or some tickets (admins; the event's organizer)",
)
async def refund_booking(
    booking_id: uuid.UUID,
    body: BookingRefund,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    provider: Provider,
    idem: Idempotent,
) -> BookingOut:
    booking = await booking_refunds.refund_booking(
        session,
        provider,
        user,
        booking_id,
        ticket_ids=body.ticket_ids,
        reason=body.reason,
        by_buyer=False,
    )
    out = (await booking_service.present(session, [booking], settings))[0]
    await idem.record(session, 200, out)
    return out
