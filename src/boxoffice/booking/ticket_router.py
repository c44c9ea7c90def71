"""Tickets as their holders see them: the ones you hold, and passing one on."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from boxoffice.auth.dependencies import AppSettings, CurrentUser
from boxoffice.booking import holding, transfer
from boxoffice.booking.router import Idempotent
from boxoffice.booking.schemas import (
    HeldTicket,
    TicketsEmailed,
    TicketsEmailRequest,
    TicketTransfer,
    TicketTransferCreate,
    TransferOfferClaim,
)
from boxoffice.booking.tickets import ImageFormat, qr_image
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination
from boxoffice.kit.ratelimit import Limiter

router = APIRouter(
    prefix="/api", tags=["tickets"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


@router.get(
    "/users/me/tickets",
    response_model=Page[HeldTicket],
    summary="Your live tickets with their codes: bought, or transferred to you",
)
async def my_tickets(
    request: Request,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    page: Pagination,
    showtime_id: Annotated[uuid.UUID | None, Query(description="Only this showtime's")] = None,
) -> Page[HeldTicket]:
    items, total = await holding.my_tickets(session, user, page, settings, showtime_id=showtime_id)
    return Page[HeldTicket].build(items, total, page, request)


@router.post(
    "/users/me/tickets/email",
    response_model=TicketsEmailed,
    status_code=202,
    summary="E-mail me my tickets for a showtime again (seat, code and QR image of each)",
)
async def email_my_tickets(
    data: TicketsEmailRequest,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    limiter: Limiter,
) -> TicketsEmailed:
    return await holding.email_tickets(session, user, data.showtime_id, settings, limiter)


@router.get(
    "/tickets/{ticket_id}/qr",
    response_class=Response,
    summary="Your ticket's code as a QR code image (SVG or PNG), to show at the door",
    responses={
        200: {
            "description": "The QR code of the ticket's current code; not to be cached",
            "content": {"image/svg+xml": {}, "image/png": {}},
        }
    },
)
async def ticket_qr(
    ticket_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    image_format: Annotated[
        ImageFormat, Query(alias="format", description="`svg` (default) or `png`")
    ] = ImageFormat.svg,
    scale: Annotated[int, Query(ge=1, le=40, description="Pixels per QR module")] = 8,
) -> Response:
    code = await holding.held_code(session, user, ticket_id, settings)
    return Response(
        qr_image(code, image_format, scale),
        media_type=image_format.media_type,
        # The code is what gets in: no shared cache keeps it, and a transfer replaces it.
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/tickets/{ticket_id}/transfer",
    response_model=TicketTransfer,
    summary="Give your ticket by e-mail address: to its account at once (new code, yours "
    "stops working), or, with no account there yet, as an offer e-mailed to it",
)
async def transfer_ticket(
    ticket_id: uuid.UUID,
    data: TicketTransferCreate,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    limiter: Limiter,
    idem: Idempotent,
) -> TicketTransfer:
    out = await transfer.transfer(session, user, ticket_id, data, settings, limiter)
    await idem.record(session, 200, out)
    return out


@router.delete(
    "/tickets/{ticket_id}/transfer-offer",
    status_code=204,
    summary="Take back your ticket's open offer to an e-mail address (before it is claimed)",
)
async def withdraw_transfer_offer(
    ticket_id: uuid.UUID, session: Session, user: CurrentUser
) -> None:
    await transfer.withdraw(session, user, ticket_id)


@router.post(
    "/tickets/transfer-offers/claim",
    response_model=TicketTransfer,
    summary="Take a ticket offered to your e-mail address, with the token the e-mail gave",
)
async def claim_transfer_offer(
    data: TransferOfferClaim,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    idem: Idempotent,
) -> TicketTransfer:
    out = await transfer.claim(session, user, data.token, settings)
    await idem.record(session, 200, out)
    return out
