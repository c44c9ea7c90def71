"""Passing a ticket on: the holder gives it to another account, which gets a new code; or,
where no account has the address yet, offers it there until someone claims it.

A transfer moves the ticket's code to its next version (`tickets.py`), so the giver's copy
no longer gets in (`409 ticket_code_superseded` at the door). The ticket stays in the
buyer's booking: the money, refunds and the per-buyer limit stay with who paid. Like a
check-in, a transfer locks the booking (FOR SHARE) before it changes the ticket, and the
buyer's cancel locks it FOR UPDATE before it looks for transferred tickets
(`service.refuse_if_used`).
"""

import hmac
import uuid
from datetime import datetime
from html import escape
from typing import Any

import structlog
from sqlalchemy import Row, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.auth import account_tokens
from boxoffice.auth.models import User
from boxoffice.auth.repository import get_user_by_email
from boxoffice.booking import errors
from boxoffice.booking.holding import holder_of
from boxoffice.booking.models import (
    Booking,
    Ticket,
    TicketTransferOffer,
    TransferOfferStatus,
)
from boxoffice.booking.schemas import (
    TicketOffer,
    TicketTransfer,
    TicketTransferCreate,
)
from boxoffice.booking.tickets import check_live, ticket_key
from boxoffice.catalog.models import Event, Showtime
from boxoffice.config import Settings, get_settings
from boxoffice.kit.jobs import enqueue, job
from boxoffice.kit.outbox import Topic, emit
from boxoffice.kit.ratelimit import RateLimiter, enforce
from boxoffice.kit.signing import hmac_sha256_b64url
from boxoffice.kit.time import for_people
from boxoffice.notification.email import OutgoingEmail, token_email
from boxoffice.venue.models import Venue

log = structlog.get_logger(__name__)

_TICKET_READ = (
    select(
        Ticket.id,
        Ticket.booking_id,
        Ticket.unit_id,
        Ticket.label,
        Ticket.status,
        Ticket.checked_in_at,
        Ticket.holder_id,
        Ticket.code_version,
        Booking.user_id,
        Booking.status.label("booking_status"),
        Booking.showtime_id,
        Booking.event_id,
        Showtime.starts_at,
        Event.allow_ticket_transfers,
        Event.organizer_id,
        Event.title.label("event_title"),
        Venue.timezone.label("venue_timezone"),
        func.now().label("now"),
    )
    .join(Booking, Booking.id == Ticket.booking_id)
    .join(Showtime, Showtime.id == Booking.showtime_id)
    .join(Event, Event.id == Booking.event_id)
    .join(Venue, Venue.id == Showtime.venue_id)
    .where(Ticket.id == bindparam("ticket_id"))
)
_TICKET = _TICKET_READ.with_for_update(read=True, of=Booking)
# Conditional on the version read: of two transfers (or a transfer and a check-in) of one
# ticket, the ticket row's lock lets one through and the other matches nothing.
_MOVE = text(
    """
    UPDATE tickets SET holder_id = :holder_id, code_version = :version
     WHERE id = :ticket_id AND status = 'issued' AND checked_in_at IS NULL
       AND code_version = :version - 1
    RETURNING id
    """
)


async def transfer(
    session: AsyncSession,
    user: User,
    ticket_id: uuid.UUID,
    data: TicketTransferCreate,
    settings: Settings,
    limiter: RateLimiter,
) -> TicketTransfer:
    """Give the caller's ticket to the account with `data.to_email`; where no active account
    has that address, offer it there instead (`offer`): that e-mails a stranger, so offers
    count against the giver's hourly allowance (429 past it)."""
    row = (await session.execute(_TICKET, {"ticket_id": ticket_id})).one_or_none()
    # Only its holder may give it; to anyone else the ticket does not exist.
    if row is None or holder_of(row) != user.id:
        raise errors.TicketNotFound("No such ticket of yours")
    _check_transferable(row)
    if not row.allow_ticket_transfers:
        raise errors.TicketTransfersNotAllowed()
    if row.starts_at <= row.now:
        raise errors.TicketTransferClosed()
    to_email = str(data.to_email).lower()
    recipient = await get_user_by_email(session, to_email)
    if recipient is not None and recipient.id == user.id:
        raise errors.TransferToSelf()
    if recipient is None or not recipient.is_active:
        await enforce(
            limiter,
            f"transfer-offer:user:{user.id}",
            limit=settings.booking.transfer_offers_per_hour,
            window_seconds=3600,
            what="tickets offered by e-mail",
        )
        return await _offer(session, user, row, to_email)
    return await _give(session, row, user, recipient, to_email)


async def _give(
    session: AsyncSession,
    row: Row[*tuple[Any, ...]],
    giver: User,
    recipient: User,
    to_email: str,
    offer_id: uuid.UUID | None = None,
) -> TicketTransfer:
    """Move the ticket `row` read (under its booking's lock) from `giver` to `recipient`
    (claiming the offer `offer_id`, if it is one)."""
    version = row.code_version + 1
    moved = (
        await session.execute(
            _MOVE,
            {
                "ticket_id": row.id,
                # Back to the buyer: held as bought again.
                "holder_id": None if recipient.id == row.user_id else recipient.id,
                "version": version,
            },
        )
    ).first()
    if moved is None:
        # A check-in, a refund or another transfer of it committed first; say which.
        again = (await session.execute(_TICKET, {"ticket_id": row.id})).one_or_none()
        if again is None or holder_of(again) != giver.id:
            raise errors.TicketNotFound("No such ticket of yours")
        _check_transferable(again)
        raise errors.TicketNotFound("No such ticket of yours")
    # An offer of it elsewhere no longer stands.
    await session.execute(_CLOSE_OPEN_OFFER, {"ticket_id": row.id, "from_user_id": None})
    out = _transfer_out(row, giver, to_email, to_user_id=recipient.id, offer_id=offer_id)
    await emit(
        session,
        Topic.ticket_transferred,
        row.id,
        {
            **out.model_dump(mode="json", exclude={"to_email", "offer_id", "offer_expires_at"}),
            # The receiver is the one told (`user_id`, as booking topics name theirs).
            "user_id": str(recipient.id),
            "from_name": giver.full_name or "Someone",
            "event_id": str(row.event_id),
            "organizer_id": str(row.organizer_id),
        },
    )
    return out


# Offers of a ticket are made one at a time: the ticket row's lock orders them, so the
# second sees (and closes) the first's open offer instead of colliding with it.
_LOCK_TICKET = text("SELECT id FROM tickets WHERE id = :ticket_id FOR UPDATE")
# `from_user_id`: only if its giver is that user (None: whoever gave it).
_CLOSE_OPEN_OFFER = text(
    """
    UPDATE ticket_transfer_offers SET status = 'cancelled', closed_at = now()
     WHERE ticket_id = :ticket_id AND status = 'open'
       AND from_user_id = COALESCE(CAST(:from_user_id AS uuid), from_user_id)
    RETURNING id
    """
)


async def _offer(
    session: AsyncSession, giver: User, row: Row[*tuple[Any, ...]], to_email: str
) -> TicketTransfer:
    """Offer the ticket to `to_email`, where no account is yet: the worker e-mails a token
    there, and whoever signs in with it may claim the ticket until the showtime starts.
    Until then it stays the giver's (its code still gets in); a newer offer replaces it."""
    await session.execute(_LOCK_TICKET, {"ticket_id": row.id})
    await session.execute(_CLOSE_OPEN_OFFER, {"ticket_id": row.id, "from_user_id": None})
    offer = TicketTransferOffer(
        ticket_id=row.id,
        from_user_id=giver.id,
        to_email=to_email,
        code_version=row.code_version,
    )
    session.add(offer)
    await session.flush()
    await enqueue(session, SEND_OFFER, {"offer_id": str(offer.id)})
    return _transfer_out(row, giver, to_email, offer_id=offer.id, offer_expires_at=row.starts_at)


def _transfer_out(
    row: Row[*tuple[Any, ...]],
    giver: User,
    to_email: str,
    *,
    to_user_id: uuid.UUID | None = None,
    offer_id: uuid.UUID | None = None,
    offer_expires_at: datetime | None = None,
) -> TicketTransfer:
    """Given to the account `to_user_id`, else offered (`offer_id`)."""
    return TicketTransfer(
        status="transferred" if to_user_id is not None else "offered",
        ticket_id=row.id,
        booking_id=row.booking_id,
        showtime_id=row.showtime_id,
        label=row.label,
        from_user_id=giver.id,
        to_user_id=to_user_id,
        to_email=to_email,
        transferred_at=row.now,
        offer_id=offer_id,
        offer_expires_at=offer_expires_at,
    )


def _offer_mac(settings: Settings, offer: TicketTransferOffer) -> str:
    message = f"transfer-offer:{offer.id}:{offer.to_email}:{offer.code_version}"
    return hmac_sha256_b64url(ticket_key(settings), message)


def offer_token(settings: Settings, offer: TicketTransferOffer) -> str:
    """`<offer id>.<HMAC>`: made again from the offer whenever needed, stored nowhere."""
    return f"{offer.id.hex}.{_offer_mac(settings, offer)}"


async def claim(
    session: AsyncSession, user: User, token: str, settings: Settings
) -> TicketTransfer:
    """Take the ticket an offer's token names, as the signed-in caller (whatever address
    their account has: the token shows they got the e-mail). Of two claims at once, the
    offer row's lock lets one through; the other finds it claimed."""
    try:
        offer_hex, mac = token.strip().split(".")
        offer_id = uuid.UUID(hex=offer_hex)
    except ValueError as exc:
        raise errors.TransferOfferTokenInvalid() from exc
    offer = await session.scalar(
        select(TicketTransferOffer).where(TicketTransferOffer.id == offer_id).with_for_update()
    )
    if offer is None or not hmac.compare_digest(mac, _offer_mac(settings, offer)):
        raise errors.TransferOfferTokenInvalid()
    if offer.status is not TransferOfferStatus.open:
        raise errors.TransferOfferClosed()
    row = (await session.execute(_TICKET, {"ticket_id": offer.ticket_id})).one()
    if row.starts_at <= row.now:
        raise errors.TransferOfferExpired()
    _check_transferable(row)
    if holder_of(row) != offer.from_user_id or (row.code_version != offer.code_version):
        raise errors.TransferOfferVoid()
    if not row.allow_ticket_transfers:
        raise errors.TicketTransfersNotAllowed()
    if user.id == offer.from_user_id:
        raise errors.TransferToSelf()
    giver = await session.get_one(User, offer.from_user_id)
    offer.status = TransferOfferStatus.claimed
    offer.claimed_by = user.id
    offer.closed_at = row.now
    await session.flush()
    return await _give(session, row, giver, user, offer.to_email, offer.id)


async def my_offers(session: AsyncSession, user: User) -> list[TicketOffer]:
    """Every offer the caller made, newest first (their account's export)."""
    rows = await session.execute(
        select(TicketTransferOffer, Showtime.starts_at)
        .join(Ticket, Ticket.id == TicketTransferOffer.ticket_id)
        .join(Booking, Booking.id == Ticket.booking_id)
        .join(Showtime, Showtime.id == Booking.showtime_id)
        .where(TicketTransferOffer.from_user_id == user.id)
        .order_by(TicketTransferOffer.created_at.desc(), TicketTransferOffer.id)
    )
    return [
        TicketOffer(
            id=offer.id,
            ticket_id=offer.ticket_id,
            to_email=offer.to_email,
            status=offer.status,
            created_at=offer.created_at,
            expires_at=starts_at,
            closed_at=offer.closed_at,
        )
        for offer, starts_at in rows
    ]


async def withdraw(session: AsyncSession, user: User, ticket_id: uuid.UUID) -> None:
    """The giver takes back the ticket's open offer (before anyone claimed it)."""
    closed = (
        await session.execute(_CLOSE_OPEN_OFFER, {"ticket_id": ticket_id, "from_user_id": user.id})
    ).first()
    if closed is None:
        raise errors.TransferOfferNotFound()


SEND_OFFER = "booking.send_transfer_offer"


@job(SEND_OFFER)
async def send_offer_email(session: AsyncSession, payload: dict[str, Any]) -> None:
    """E-mail the offer's token to its address; nothing once it is closed or expired."""
    settings = get_settings()
    offer = await session.get(TicketTransferOffer, uuid.UUID(payload["offer_id"]))
    if offer is None or offer.status is not TransferOfferStatus.open:
        log.info("transfer_offer_email_skipped", offer_id=payload["offer_id"])
        return
    row = (await session.execute(_TICKET_READ, {"ticket_id": offer.ticket_id})).one()
    if row.starts_at <= row.now:
        log.info("transfer_offer_email_skipped", offer_id=payload["offer_id"])
        return
    giver = await session.get_one(User, offer.from_user_id)
    await account_tokens.mail_sender().send(
        _offer_email(settings, offer, giver, row, offer_token(settings, offer))
    )
    log.info("transfer_offer_email_sent", offer_id=str(offer.id))


def _offer_email(
    settings: Settings,
    offer: TicketTransferOffer,
    giver: User,
    row: Row[*tuple[Any, ...]],
    token: str,
) -> OutgoingEmail:
    who = giver.full_name or giver.email
    title, label = row.event_title, row.label
    starts = for_people(row.starts_at, row.venue_timezone)
    return token_email(
        to=offer.to_email,
        subject=f"{who} passed you a ticket for {title}",
        opening=f"{who} passed you a ticket for {title} ({label}).",
        opening_html=(
            f"{escape(who)} passed you a ticket for <b>{escape(title)}</b> ({escape(label)})."
        ),
        token=token,
        link_template=settings.booking.transfer_claim_url,
        action="Take it here (sign in or create an account first)",
        api_call="Sign in or create an account, then send it as "
        '{"token": "..."} to POST /api/tickets/transfer-offers/claim',
        closing=(
            f"The offer stands until the show starts ({starts}), "
            f"unless {who} takes it back. If you do not know {who}, ignore this e-mail."
        ),
        # Stable per offer: a redelivered job sends a message with the same Message-ID.
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"boxoffice:transfer-offer:{offer.id}"),
        user_id=giver.id,
        kind="ticket_offer",
    )


def _check_transferable(row: Row[*tuple[Any, ...]]) -> None:
    check_live(row.status, row.booking_status)
    if row.checked_in_at is not None:
        raise errors.TicketAlreadyCheckedIn(row.checked_in_at)
