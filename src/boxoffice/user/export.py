"""Everything boxoffice keeps about the caller, in one document (GDPR articles 15 and 20).

Each part is what the caller's own list endpoint answers, every page of it, so the export
and the API never disagree about what a booking, a payment or a notification looks like.
"""

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.schemas import AuditEntryOut
from boxoffice.auth import service as auth_service
from boxoffice.auth.models import User, UserIdentity
from boxoffice.auth.schemas import SessionRead, UserRead
from boxoffice.booking import holding, transfer
from boxoffice.booking import service as booking_service
from boxoffice.booking.repository import BookingFilters
from boxoffice.booking.schemas import BookingOut, HeldTicket, TicketOffer
from boxoffice.catalog.repository import LocationRepository
from boxoffice.catalog.schemas import Location
from boxoffice.config import Settings
from boxoffice.kit.pagination import PageParams, all_pages
from boxoffice.kit.time import utcnow
from boxoffice.notification import service as notification_service
from boxoffice.notification.schemas import (
    EventInterestOut,
    NotificationOut,
    NotificationPreferences,
    OrganizerFollowOut,
)
from boxoffice.payment import service as payment_service
from boxoffice.payment.schemas import Payment
from boxoffice.review import service as review_service
from boxoffice.review.schemas import Review
from boxoffice.waitlist import service as waitlist_service
from boxoffice.waitlist.schemas import EntryOut


class LinkedAccount(BaseModel):
    provider: str
    email: str | None
    linked_at: datetime


class AccountExport(BaseModel):
    """The caller's data as of `exported_at`."""

    exported_at: datetime
    user: UserRead
    devices: list[SessionRead] = Field(description="Signed-in sessions")
    linked_accounts: list[LinkedAccount] = Field(description="External sign-ins (Google)")
    bookings: list[BookingOut]
    tickets: list[HeldTicket] = Field(description="Live tickets held: bought or received")
    ticket_offers: list[TicketOffer] = Field(
        description="Tickets offered to e-mail addresses with no account, and what became of them"
    )
    payments: list[Payment]
    waitlist_entries: list[EntryOut]
    reviews: list[Review]
    notifications: list[NotificationOut]
    notification_preferences: NotificationPreferences
    following: list[OrganizerFollowOut]
    interests: list[EventInterestOut]
    location: Location | None = Field(description="The last location posted, if any")
    audit_entries: list[AuditEntryOut] = Field(
        description="The audit log's entries of what you did as staff or on money, and of "
        "what was done to your account, oldest first"
    )


async def export(session: AsyncSession, user: User, settings: Settings) -> AccountExport:
    async def bookings(page: PageParams) -> tuple[list[BookingOut], int]:
        rows, total = await booking_service.list_user_bookings(
            session, user, user.id, BookingFilters(), page
        )
        return await booking_service.present(session, rows, settings), total

    async def payments(page: PageParams) -> tuple[list[Payment], int]:
        rows, total = await payment_service.list_payments(
            session, user, page, booking_id=None, status=None, only_own=True
        )
        return await payment_service.with_refunds(session, rows), total

    async def notifications(page: PageParams) -> tuple[list[NotificationOut], int]:
        rows, total = await notification_service.list_notifications(
            session, user, user.id, page, unread_only=False
        )
        return [NotificationOut.model_validate(n) for n in rows], total

    identities = await session.scalars(
        select(UserIdentity).where(UserIdentity.user_id == user.id).order_by(UserIdentity.id)
    )
    location = await LocationRepository(session).get(user.id)
    return AccountExport(
        exported_at=utcnow(),
        user=UserRead.model_validate(user),
        devices=[
            SessionRead.model_validate(s) for s in await auth_service.list_sessions(session, user)
        ],
        linked_accounts=[
            LinkedAccount(provider=i.provider, email=i.email, linked_at=i.created_at)
            for i in identities
        ],
        bookings=await all_pages(bookings),
        tickets=await all_pages(lambda page: holding.my_tickets(session, user, page, settings)),
        ticket_offers=await transfer.my_offers(session, user),
        payments=await all_pages(payments),
        waitlist_entries=await waitlist_service.present(
            session, await waitlist_service.my_entries(session, user)
        ),
        reviews=await all_pages(lambda page: review_service.list_user_reviews(session, user, page)),
        notifications=await all_pages(notifications),
        notification_preferences=NotificationPreferences.model_validate(
            {"channels": await notification_service.get_preferences(session, user)}
        ),
        following=await all_pages(
            lambda page: notification_service.list_following(session, user, page)
        ),
        interests=await all_pages(
            lambda page: notification_service.list_interests(session, user, page)
        ),
        location=Location.model_validate(location) if location else None,
        audit_entries=[AuditEntryOut.model_validate(e) for e in await audit.about(session, user)],
    )
