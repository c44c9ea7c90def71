"""Holds and bookings over HTTP (seed 003's paths, plus seeds 000 and 001)."""

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.dependencies import (
    AppSettings,
    CurrentUser,
    ExportAllowance,
    current_user,
    require,
)
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.booking import calendar, errors, export, flows, holds, service
from boxoffice.booking.models import Booking, BookingStatus
from boxoffice.booking.repository import BookingFilters
from boxoffice.booking.schemas import (
    BookingCreate,
    BookingOut,
    Hold,
    HoldCreate,
    HoldRef,
    SeatAssignment,
    VersionRef,
)
from boxoffice.booking.seats import assign_seats
from boxoffice.config import Settings
from boxoffice.db.engine import Session, Transaction
from boxoffice.inventory.errors import SeatsUnavailable, SoldOut
from boxoffice.kit.errors import PROBLEM_RESPONSES, PreconditionFailed, problem
from boxoffice.kit.idempotency import Idempotency, idempotency_dependency
from boxoffice.kit.ids import VERSION_MAX
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, PageParams, Pagination, SortOrder
from boxoffice.kit.ratelimit import Limiter, RateLimiter, enforce
from boxoffice.payment import booking_refunds
from boxoffice.payment.dependencies import get_payment_provider
from boxoffice.waitlist import service as waitlist
from boxoffice.waitlist.schemas import EntryCreate

router = APIRouter(
    prefix="/api", tags=["bookings"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)

Idempotent = Annotated[Idempotency, Depends(idempotency_dependency(current_user))]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The booking version you read, e.g. `"3"`',
        # Documented, not enforced here: a malformed one is 412 (`_version`), not 422.
        json_schema_extra={"pattern": '^(W/)?"?[1-9][0-9]{0,9}"?$'},
    ),
]
Admin = Annotated[User, Depends(require(Permission.booking_manage_any))]


def _version(body: VersionRef | None, if_match: str | None) -> int | None:
    if if_match is not None:
        try:
            version = int(if_match.strip().removeprefix("W/").strip('"'))
        except ValueError as exc:
            raise PreconditionFailed('If-Match must be a booking version like "3"') from exc
        if not 1 <= version <= VERSION_MAX:
            raise PreconditionFailed("No booking ever has that version")
        return version
    return body.version if body is not None else None


async def _one(session: Session, settings: Settings, booking: Booking) -> BookingOut:
    return (await service.present(session, [booking], settings))[0]


async def _page(
    request: Request,
    session: Session,
    settings: Settings,
    found: tuple[list[Booking], int],
    page: PageParams,
) -> Page[BookingOut]:
    rows, total = found
    return Page[BookingOut].build(
        await service.present(session, rows, settings), total, page, request
    )


# ---- holds -----------------------------------------------------------------------------


@router.post(
    "/bookings/hold-seats",
    response_model=Hold,
    status_code=201,
    summary="Hold seats: explicit, a GA quantity, or best available",
)
async def hold_seats(
    data: HoldCreate,
    tx: Transaction,
    user: CurrentUser,
    settings: AppSettings,
    idem: Idempotent,
    limiter: Limiter,
) -> Hold:
    await _hold_allowance(limiter, user, settings)
    try:
        hold = await holds.place_hold(tx, user, data, settings.booking)
    except (SoldOut, SeatsUnavailable) as exc:
        exc.extra["waitlist"] = {
            "join_url": "/api/waitlists",
            "showtime_id": str(data.showtime_id) if data.showtime_id else None,
            "event_id": str(data.event_id) if data.event_id else None,
            "quantity": len(data.seat_ids or data.unit_ids or []) or data.quantity,
            "accessible": data.accessible,
        }
        raise
    out = (await holds.describe(tx, [hold]))[0]
    await idem.record(tx, 201, out)
    return out


async def _hold_allowance(limiter: RateLimiter, user: User, settings: Settings) -> None:
    """Counts a hold attempt against the account's minute (429 past it)."""
    if settings.booking.hold_attempts_per_minute:
        await enforce(
            limiter,
            f"hold:user:{user.id}",
            limit=settings.booking.hold_attempts_per_minute,
            window_seconds=60,
            what="hold attempts",
        )


@router.post("/bookings/release-seats", response_model=Hold, summary="Release a hold at once")
async def release_seats(data: HoldRef, session: Session, user: CurrentUser) -> Hold:
    hold = await holds.release_hold(session, user, data.hold_id)
    return (await holds.describe(session, [hold]))[0]


@router.post("/bookings/extend-hold", response_model=Hold, summary="Extend a hold (up to its cap)")
async def extend_hold(
    data: HoldRef, session: Session, user: CurrentUser, settings: AppSettings
) -> Hold:
    hold = await holds.extend_hold(session, user, data.hold_id, settings.booking)
    return (await holds.describe(session, [hold]))[0]


@router.get("/bookings/hold-status", response_model=list[Hold], summary="Your live holds")
async def hold_status(
    session: Session, user: CurrentUser, showtime_id: uuid.UUID | None = None
) -> list[Hold]:
    return await holds.describe(session, await holds.live_holds(session, user, showtime_id))


# ---- bookings --------------------------------------------------------------------------


@router.post(
    "/bookings/create",
    response_model=BookingOut,
    status_code=201,
    summary="Create a booking from a hold (pending payment)",
)
async def create_booking(
    data: HoldRef, tx: Transaction, user: CurrentUser, settings: AppSettings, idem: Idempotent
) -> BookingOut:
    out = await service.create_from_hold(
        tx, user, data.hold_id, settings, coupon_code=data.coupon_code
    )
    await idem.record(tx, 201, out)
    return out


@router.post(
    "/bookings",
    response_model=BookingOut,
    status_code=201,
    summary="Book in one call: best available for a showtime or event, or from a hold",
)
async def book(
    request: Request,
    data: BookingCreate,
    tx: Transaction,
    user: CurrentUser,
    settings: AppSettings,
    idem: Idempotent,
    limiter: Limiter,
) -> BookingOut | JSONResponse:
    if data.hold_id is None:  # a new hold (booking one already made is not another)
        await _hold_allowance(limiter, user, settings)
    try:
        out = await flows.book(tx, user, data, settings)
    except SoldOut as exc:
        if data.hold_id is not None or not data.join_waitlist:
            raise
        entry = await waitlist.join_after_refusal(
            tx.session,
            user,
            EntryCreate(
                showtime_id=data.showtime_id,
                event_id=data.event_id,
                quantity=data.quantity or 1,
                accessible=data.accessible,
            ),
        )
        if entry is None:
            raise
        # Answered, not raised: the request's transaction commits, keeping the new entry
        # (and a keyed repeat replays this answer).
        refused = problem(
            request,
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            extra={
                **exc.extra,
                "waitlist_entry_id": str(entry.id),
                "waitlist": {
                    "entry_id": str(entry.id),
                    "url": f"/api/waitlists/{entry.id}",
                    "quantity": entry.quantity,
                },
            },
        )
        await idem.record(tx, refused.status_code, json.loads(bytes(refused.body)))
        return refused
    await idem.record(tx, 201, out)
    return out


@router.post(
    "/bookings/{booking_id}/confirm",
    response_model=BookingOut,
    summary="Confirm a pending booking without payment (admins: complimentary)",
)
async def confirm_booking(
    booking_id: uuid.UUID,
    session: Session,
    admin: Admin,
    settings: AppSettings,
    idem: Idempotent,
    if_match: IfMatch = None,
    body: Annotated[VersionRef | None, Body()] = None,
) -> BookingOut:
    booking = await service.confirm(
        session,
        booking_id,
        version=_version(body, if_match),
        complimentary=True,
        if_match=if_match is not None,
    )
    organizer_id, event_id = await audit.event_context(session, booking.event_id)
    audit.record(
        session,
        admin,
        AuditAction.booking_comped,
        "booking",
        booking_id,
        organizer_id=organizer_id,
        event_id=event_id,
        buyer_id=str(booking.user_id),
        quantity=booking.quantity,
        total_minor=booking.total_minor,
        currency=booking.currency,
    )
    out = await _one(session, settings, booking)
    await idem.record(session, 200, out)
    return out


async def _cancel(
    request: Request,
    session: Session,
    user: User,
    booking_id: uuid.UUID,
    version: int | None,
    *,
    if_match: bool,
) -> Booking:
    """A paid booking is refunded (buyer: under the event's refund policy; staff: in full)
    and its tickets voided; any other booking is cancelled without money moving."""
    current = await service.get_visible(session, user, booking_id)
    if not has_permission(user.role, Permission.booking_manage_any):
        # The buyer: not once a ticket was used at the door or given away (admins may
        # still override).
        await service.refuse_if_used(session, booking_id)
    paid, from_status = booking_refunds.is_paid(current), current.status.value
    if paid:
        if version is not None and version != current.version:
            error = errors.BookingPreconditionFailed if if_match else errors.BookingVersionConflict
            raise error(extra={"current_version": current.version})
        cancelled = await booking_refunds.refund_booking(
            session,
            get_payment_provider(request),
            user,
            booking_id,
            ticket_ids=None,
            reason="",
            by_buyer=current.user_id == user.id,
        )
    else:
        cancelled = await service.cancel(
            session, user, booking_id, version=version, if_match=if_match
        )
    if current.user_id != user.id:
        # Staff overriding a buyer (the buyer's own cancel is in the booking's history).
        organizer_id, event_id = await audit.event_context(session, current.event_id)
        audit.record(
            session,
            user,
            AuditAction.booking_cancelled,
            "booking",
            booking_id,
            organizer_id=organizer_id,
            event_id=event_id,
            buyer_id=str(current.user_id),
            from_status=from_status,
            to_status=cancelled.status.value,
            refunded=paid,
        )
    return cancelled


@router.post(
    "/bookings/{booking_id}/cancel",
    response_model=BookingOut,
    summary="Cancel a booking (a paid one is refunded under the event's refund policy)",
)
async def cancel_booking(
    request: Request,
    booking_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    idem: Idempotent,
    if_match: IfMatch = None,
    body: Annotated[VersionRef | None, Body()] = None,
) -> BookingOut:
    booking = await _cancel(
        request, session, user, booking_id, _version(body, if_match), if_match=if_match is not None
    )
    out = await _one(session, settings, booking)
    await idem.record(session, 200, out)
    return out


@router.delete(
    "/bookings/{booking_id}",
    response_model=BookingOut,
    summary="Cancel a booking (seed 000/001 alias of POST .../cancel)",
)
async def delete_booking(
    request: Request,
    booking_id: uuid.UUID,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    if_match: IfMatch = None,
) -> BookingOut:
    booking = await _cancel(
        request, session, user, booking_id, _version(None, if_match), if_match=if_match is not None
    )
    return await _one(session, settings, booking)


@router.post(
    "/bookings/{booking_id}/seats",
    response_model=BookingOut,
    summary="Seed 000: add seats to your pending booking (`booked` also confirms if free)",
)
async def booking_seats(
    booking_id: uuid.UUID,
    data: SeatAssignment,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
) -> BookingOut:
    booking = await assign_seats(session, user, booking_id, data)
    return await _one(session, settings, booking)


def _filters(
    status: BookingStatus | None = None,
    showtime_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    reference: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9A-Fa-f]{8}$",
            description="The booking reference from e-mails (8 hex digits); short, so it "
            "may match more than one booking",
        ),
    ] = None,
    order: SortOrder = SortOrder.desc,
) -> BookingFilters:
    return BookingFilters(
        user_id=user_id,
        status=status,
        showtime_id=showtime_id,
        event_id=event_id,
        reference=reference,
        descending=order is SortOrder.desc,
    )


Filters = Annotated[BookingFilters, Depends(_filters)]


@router.get(
    "/bookings/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per ticket"}},
    summary="Bookings you may see as CSV, one row per ticket (same filters as the list)",
)
async def export_bookings(
    session: Session, user: CurrentUser, filters: Filters, _: ExportAllowance
) -> Response:
    return Response(
        await export.bookings_csv(session, user, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="bookings.csv"'},
    )


@router.get(
    "/bookings/{booking_id}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "One VEVENT"}},
    summary="The booking's showtime as an iCalendar file (add to calendar)",
)
async def booking_calendar(booking_id: uuid.UUID, session: Session, user: CurrentUser) -> Response:
    return Response(
        await calendar.booking_ics(session, user, booking_id),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="booking-{booking_id}.ics"'},
    )


@router.get("/bookings/{booking_id}", response_model=BookingOut, summary="One booking")
async def get_booking(
    booking_id: uuid.UUID, session: Session, user: CurrentUser, settings: AppSettings
) -> BookingOut:
    return await _one(session, settings, await service.get_visible(session, user, booking_id))


@router.get(
    "/bookings",
    response_model=Page[BookingOut],
    summary="Bookings you may see: yours; an organizer's events'; all for admins",
)
async def list_bookings(
    request: Request,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    page: Pagination,
    filters: Filters,
) -> Page[BookingOut]:
    found = await service.list_bookings(session, user, filters, page)
    return await _page(request, session, settings, found, page)


@router.get("/users/me/bookings", response_model=Page[BookingOut], summary="Your bookings")
async def my_bookings(
    request: Request,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    page: Pagination,
    filters: Filters,
) -> Page[BookingOut]:
    found = await service.list_user_bookings(session, user, user.id, filters, page)
    return await _page(request, session, settings, found, page)


@router.get(
    "/users/{user_id}/bookings",
    response_model=Page[BookingOut],
    summary="A user's bookings (yourself, or any user for admins)",
)
async def user_bookings(
    request: Request,
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    user_id: uuid.UUID,
    page: Pagination,
    filters: Filters,
) -> Page[BookingOut]:
    found = await service.list_user_bookings(session, user, user_id, filters, page)
    return await _page(request, session, settings, found, page)
