"""Who may see which analytics, the date range rules, and assembling the report."""

import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.analytics.errors import (
    AnalyticsEventNotFound,
    InvalidDateRange,
    OrganizerScopeDenied,
)
from boxoffice.analytics.repository import AnalyticsRepository, Filter
from boxoffice.analytics.schemas import (
    Analytics,
    AnalyticsScope,
    DailyStat,
    EventUtilization,
    StatsOverview,
    TopEvent,
    Totals,
)
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.booking.models import BookingStatus
from boxoffice.kit.money import Money
from boxoffice.kit.time import utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def resolve_range(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """Inclusive UTC days; default: the last 30 days ending today."""
    date_to = date_to or (date_from + timedelta(days=DEFAULT_DAYS - 1) if date_from else None)
    date_to = date_to or utcnow().date()
    date_from = date_from or date_to - timedelta(days=DEFAULT_DAYS - 1)
    if date_from > date_to:
        raise InvalidDateRange("'from' must not be after 'to'")
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise InvalidDateRange(f"The range may span at most {MAX_DAYS} days")
    return date_from, date_to


async def _scope_organizer(
    repo: AnalyticsRepository,
    user: User,
    event_id: uuid.UUID | None,
    organizer_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """The organizer filter to apply: any for admins, always the caller for organizers."""
    sees_all = has_permission(user.role, Permission.analytics_read)
    if not sees_all:
        if organizer_id is not None and organizer_id != user.id:
            raise OrganizerScopeDenied()
        organizer_id = user.id
    if event_id is not None:
        owner = await repo.event_organizer(event_id)
        if owner is None or (not sees_all and owner != user.id):
            raise AnalyticsEventNotFound()
    return organizer_id


async def analytics(
    session: AsyncSession,
    user: User,
    *,
    event_id: uuid.UUID | None,
    organizer_id: uuid.UUID | None,
    date_from: date | None,
    date_to: date | None,
    events_limit: int,
    top: int,
) -> Analytics:
    day_from, day_to = resolve_range(date_from, date_to)
    repo = AnalyticsRepository(session)
    organizer_id = await _scope_organizer(repo, user, event_id, organizer_id)
    f = Filter(
        start=datetime.combine(day_from, time.min, tzinfo=UTC),
        end=datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=UTC),
        day_from=day_from,
        day_to=day_to,
        event_id=event_id,
        organizer_id=organizer_id,
    )

    counts = await repo.status_counts(f)
    by_status = {status.value: counts.get(status.value, 0) for status in BookingStatus}
    confirmed = await repo.confirmed_by_currency(f)
    settled = sum(
        by_status[s]
        for s in (BookingStatus.confirmed, BookingStatus.cancelled, BookingStatus.refunded)
    )
    totals = Totals(
        bookings=sum(by_status.values()),
        bookings_by_status=by_status,
        tickets_sold=sum(tickets for _, _, tickets, _ in confirmed),
        revenue=[Money(currency=c, amount_minor=amount) for c, amount, _, _ in confirmed],
        booking_fees=[Money(currency=c, amount_minor=fees) for c, _, _, fees in confirmed],
        cancellation_rate=_rate(by_status[BookingStatus.cancelled], settled),
    )

    revenue_by_day: dict[date, list[Money]] = {}
    for day, currency, amount in await repo.daily_revenue(f):
        revenue_by_day.setdefault(day, []).append(Money(currency=currency, amount_minor=amount))
    daily = [
        DailyStat(
            day=day,
            created=created,
            confirmed=confirmed_n,
            cancelled=cancelled,
            revenue=revenue_by_day.get(day, []),
        )
        for day, created, confirmed_n, cancelled in await repo.daily_counts(f)
    ]

    utilization = [
        EventUtilization(
            event_id=row.event_id,
            title=row.title,
            capacity=row.capacity,
            sold=row.sold,
            held=row.held,
            blocked=row.blocked,
            available=row.capacity - row.sold - row.held - row.blocked,
            utilization=_rate(row.sold, row.capacity),
        )
        for row in await repo.utilization(f, events_limit)
    ]
    top_events = [
        TopEvent(
            event_id=row.event_id,
            title=row.title,
            currency=row.currency,
            revenue_minor=int(row.revenue),
            tickets_sold=int(row.tickets),
            bookings=row.bookings,
        )
        for row in await repo.top_events(f, top)
    ]
    return Analytics(
        scope=AnalyticsScope(
            date_from=day_from, date_to=day_to, event_id=event_id, organizer_id=organizer_id
        ),
        totals=totals,
        daily=daily,
        utilization=utilization,
        top_events=top_events,
    )


async def overview(session: AsyncSession) -> StatsOverview:
    users: dict[str, int] = {}
    events: dict[str, int] = {}
    upcoming = bookings_today = 0
    for kind, key, n in await AnalyticsRepository(session).overview():
        if kind == "role":
            users[key] = n
        elif kind == "event_status":
            events[key] = n
        elif kind == "upcoming_showtimes":
            upcoming = n
        else:
            bookings_today = n
    return StatsOverview(
        users_by_role=users,
        events_by_status=events,
        upcoming_showtimes=upcoming,
        bookings_today=bookings_today,
    )
