"""Rules of the notification domain: ownership, follows, interest, push, webhooks, and the
scheduled sale-start announcement."""

import ipaddress
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.audit import service as audit
from boxoffice.audit.models import AuditAction
from boxoffice.auth.models import Role, User
from boxoffice.auth.permissions import Permission, has_permission
from boxoffice.catalog.models import Event, EventStatus, Showtime
from boxoffice.config import WebhookSettings
from boxoffice.kit.outbox import OutboxEvent, Topic, emit
from boxoffice.kit.pagination import PageParams
from boxoffice.kit.time import utcnow
from boxoffice.notification import repository
from boxoffice.notification.errors import (
    EventNotFound,
    NotificationNotFound,
    OrganizerNotFound,
    PreferenceRequired,
    ShowtimeNotFound,
    UserNotFound,
    WebhookDeliveryNotFound,
    WebhookDeliveryPending,
    WebhookInactive,
    WebhookNotFound,
    WebhookUrlRefused,
)
from boxoffice.notification.models import (
    Notification,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from boxoffice.notification.preferences import REQUIRED, effective
from boxoffice.notification.schemas import (
    EventInterestOut,
    OrganizerFollowOut,
    PushCreate,
    WebhookCreate,
    WebhookSecretRotate,
    WebhookUpdate,
)

# --- in-app notifications ---------------------------------------------------------------


def _check_owner(actor: User, user_id: uuid.UUID) -> None:
    """A user sees only their own notifications; admins anyone's. 404, not 403, so another
    user's existence is not revealed."""
    if actor.id != user_id and not has_permission(actor.role, Permission.user_manage):
        raise UserNotFound()


async def list_notifications(
    session: AsyncSession, actor: User, user_id: uuid.UUID, page: PageParams, *, unread_only: bool
) -> tuple[Sequence[Notification], int]:
    """A user's notifications, newest first."""
    _check_owner(actor, user_id)
    return await repository.list_notifications(session, user_id, page, unread_only=unread_only)


async def mark_read(
    session: AsyncSession, actor: User, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification:
    """Mark one notification read (repeating it keeps the first read time)."""
    _check_owner(actor, user_id)
    notification = await repository.get_notification(session, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotificationNotFound()
    if notification.read_at is None:
        notification.read_at = utcnow()
        await session.flush()
    return notification


async def unread_count(session: AsyncSession, actor: User) -> int:
    return await repository.count_unread(session, actor.id)


async def mark_all_read(session: AsyncSession, actor: User) -> int:
    return await repository.mark_all_read(session, actor.id, utcnow())


# --- preferences ------------------------------------------------------------------------


async def get_preferences(session: AsyncSession, actor: User) -> dict[str, dict[str, bool]]:
    stored = await repository.get_preferences(session, [actor.id])
    return effective(stored.get(actor.id))


async def update_preferences(
    session: AsyncSession, actor: User, changes: dict[str, dict[str, bool]]
) -> dict[str, dict[str, bool]]:
    """Merge the named kinds/channels into the user's choices; returns the full matrix.

    Turning off what cannot be (`preferences.REQUIRED`) is refused, and nothing is saved."""
    refused = sorted(
        f"{kind.value}.{channel.value}"
        for kind, channel in REQUIRED
        if changes.get(kind.value, {}).get(channel.value) is False
    )
    if refused:
        raise PreferenceRequired(
            f"These are sent only when you ask for them and cannot be turned off: "
            f"{', '.join(refused)}",
            extra={"preferences": refused},
        )
    stored = (await repository.get_preferences(session, [actor.id])).get(actor.id, {})
    merged = {kind: dict(channels) for kind, channels in stored.items()}
    for kind, channels in changes.items():
        merged.setdefault(kind, {}).update(channels)
    await repository.save_preferences(session, actor.id, merged)
    return effective(merged)


# --- follows and interest ---------------------------------------------------------------


async def _organizer(session: AsyncSession, organizer_id: uuid.UUID) -> User:
    organizer = await session.get(User, organizer_id)
    if organizer is None or not organizer.is_active or organizer.role is not Role.organizer:
        raise OrganizerNotFound()
    return organizer


async def follow(session: AsyncSession, actor: User, organizer_id: uuid.UUID) -> bool:
    """Follow an organizer; True when new, False when already followed."""
    await _organizer(session, organizer_id)
    return await repository.subscribe(session, repository.FOLLOWS, actor.id, organizer_id)


async def unfollow(session: AsyncSession, actor: User, organizer_id: uuid.UUID) -> None:
    if not await repository.unsubscribe(session, repository.FOLLOWS, actor.id, organizer_id):
        raise OrganizerNotFound("You do not follow this organizer")


async def _public_event(session: AsyncSession, event_id: uuid.UUID) -> Event:
    event = await session.get(Event, event_id)
    if event is None or event.status is not EventStatus.published:
        raise EventNotFound()
    return event


async def add_interest(session: AsyncSession, actor: User, event_id: uuid.UUID) -> bool:
    """Register interest in a published event; True when new."""
    await _public_event(session, event_id)
    return await repository.subscribe(session, repository.INTERESTS, actor.id, event_id)


async def remove_interest(session: AsyncSession, actor: User, event_id: uuid.UUID) -> None:
    if not await repository.unsubscribe(session, repository.INTERESTS, actor.id, event_id):
        raise EventNotFound("You have no interest registered in this event")


async def announce_sales_started(session: AsyncSession) -> int:
    """Emit `sale.started` once per published event whose sale has begun; returns how many.

    Safe to run in several workers at once: the announcement row is claimed by exactly one.
    """
    event_ids = await repository.claim_sale_announcements(session, utcnow())
    for event_id in event_ids:
        await emit(session, Topic.sale_started, event_id, {"event_id": str(event_id)})
    return len(event_ids)


async def send_showtime_reminders(session: AsyncSession, hours_before: int) -> int:
    """Emit `showtime.reminder` once per showtime starting within `hours_before` hours.

    Safe to run in several workers at once: the reminder row is claimed by exactly one.
    """
    now = utcnow()
    due = await repository.claim_due_reminders(session, now, now + timedelta(hours=hours_before))
    for showtime_id, starts_at, title, venue_name in due:
        await emit(
            session,
            Topic.showtime_reminder,
            showtime_id,
            {
                "showtime_id": str(showtime_id),
                "starts_at": starts_at.isoformat(),
                "event_title": title,
                "venue_name": venue_name,
            },
        )
    return len(due)


# --- admin push -------------------------------------------------------------------------


async def push(session: AsyncSession, admin: User, push: PushCreate) -> OutboxEvent:
    """Queue an announcement; the relay resolves the audience and delivers it."""
    target = push.audience.id
    if push.audience.type == "user":
        if await session.get(User, target) is None:
            raise UserNotFound()
    elif push.audience.type == "organizer_followers":
        await _organizer(session, target)
    elif push.audience.type == "showtime_holders":
        if await session.get(Showtime, target) is None:
            raise ShowtimeNotFound()
    elif await session.get(Event, target) is None:
        raise EventNotFound()
    event = await emit(
        session,
        Topic.notification_pushed,
        target,
        {
            "audience": {"type": push.audience.type, "id": str(target)},
            "title": push.title,
            "body": push.body,
            "data": push.data,
        },
    )
    audit.record(
        session,
        admin,
        AuditAction.announcement_pushed,
        push.audience.type,
        target,
        outbox_event_id=str(event.id),
        title=push.title,
    )
    return event


# --- webhooks ---------------------------------------------------------------------------


def _check_url(url: str, settings: WebhookSettings) -> None:
    """Refuse obvious internal targets (SSRF), unless configured for development."""
    if settings.allow_private_urls:
        return
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        raise WebhookUrlRefused(f"Host {host!r} is internal")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address.is_global:
        raise WebhookUrlRefused(f"Address {host} is not public")


async def create_webhook(
    session: AsyncSession, actor: User, data: WebhookCreate, settings: WebhookSettings
) -> WebhookEndpoint:
    """Register an endpoint for the caller (admins: for any organizer)."""
    organizer_id = actor.id
    if data.organizer_id and data.organizer_id != actor.id:
        if not has_permission(actor.role, Permission.event_manage_any):
            raise OrganizerNotFound()
        organizer_id = (await _organizer(session, data.organizer_id)).id
    _check_url(str(data.url), settings)
    endpoint = WebhookEndpoint(
        organizer_id=organizer_id,
        url=str(data.url),
        secret=data.secret or secrets.token_urlsafe(32),
        topics=sorted({t.value for t in data.topics}),
        is_active=True,
        consecutive_gone=0,
    )
    session.add(endpoint)
    await session.flush()
    # Where an organizer's booking data is sent: who pointed it there matters.
    audit.record(
        session,
        actor,
        AuditAction.webhook_created,
        "webhook",
        endpoint.id,
        organizer_id=organizer_id,
        host=urlsplit(endpoint.url).hostname,
        topics=endpoint.topics,
    )
    return endpoint


def _sees_all(actor: User) -> bool:
    return has_permission(actor.role, Permission.event_manage_any)


async def list_webhooks(
    session: AsyncSession, actor: User, page: PageParams
) -> tuple[Sequence[WebhookEndpoint], int]:
    return await repository.list_endpoints(session, None if _sees_all(actor) else actor.id, page)


async def get_webhook(
    session: AsyncSession, actor: User, webhook_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, webhook_id, with_for_update=lock or None)
    if endpoint is None or (endpoint.organizer_id != actor.id and not _sees_all(actor)):
        raise WebhookNotFound()
    return endpoint


async def update_webhook(
    session: AsyncSession,
    actor: User,
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    settings: WebhookSettings,
) -> WebhookEndpoint:
    """Change the URL, the topics, or switch the endpoint off and on again."""
    endpoint = await get_webhook(session, actor, webhook_id, lock=True)
    changed: list[str] = []
    if data.url is not None and str(data.url) != endpoint.url:
        _check_url(str(data.url), settings)
        endpoint.url = str(data.url)
        changed.append("url")
    if data.topics is not None:
        topics = sorted({t.value for t in data.topics})
        if topics != endpoint.topics:
            endpoint.topics = topics
            changed.append("topics")
    if data.is_active is not None and data.is_active != endpoint.is_active:
        endpoint.is_active = data.is_active
        # On again: the 410s that switched it off are forgotten; off by hand is no fault.
        endpoint.consecutive_gone = 0
        endpoint.disabled_at = None if data.is_active else utcnow()
        changed.append("is_active")
    if changed:
        await session.flush()
        audit.record(
            session,
            actor,
            AuditAction.webhook_updated,
            "webhook",
            endpoint.id,
            organizer_id=endpoint.organizer_id,
            changed=changed,
            host=urlsplit(endpoint.url).hostname,
            topics=endpoint.topics,
            is_active=endpoint.is_active,
        )
    return endpoint


async def rotate_webhook_secret(
    session: AsyncSession,
    actor: User,
    webhook_id: uuid.UUID,
    data: WebhookSecretRotate,
    settings: WebhookSettings,
) -> WebhookEndpoint:
    """A new signing secret; the old one keeps signing too for the overlap, so the receiver
    can switch without refusing a delivery. A rotation during an overlap drops the oldest."""
    endpoint = await get_webhook(session, actor, webhook_id, lock=True)
    overlap = (
        settings.secret_overlap_seconds if data.overlap_seconds is None else data.overlap_seconds
    )
    if overlap:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = utcnow() + timedelta(seconds=overlap)
    else:
        endpoint.previous_secret = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret = data.secret or secrets.token_urlsafe(32)
    await session.flush()
    audit.record(
        session,
        actor,
        AuditAction.webhook_secret_rotated,
        "webhook",
        endpoint.id,
        organizer_id=endpoint.organizer_id,
        overlap_seconds=overlap,
    )
    return endpoint


PING_TOPIC = "webhook.ping"


async def ping_webhook(
    session: AsyncSession, actor: User, webhook_id: uuid.UUID
) -> WebhookDelivery:
    """Queue a `webhook.ping` delivery to this endpoint alone, signed and retried like any
    other, to check the receiver end to end."""
    endpoint = await get_webhook(session, actor, webhook_id)
    if not endpoint.is_active:
        raise WebhookInactive("Switch it on first: PUT /api/webhooks/{id} with is_active true")
    event_id = uuid.uuid4()
    body = {
        "id": str(event_id),
        "topic": PING_TOPIC,
        "aggregate_id": str(endpoint.id),
        "created_at": utcnow().isoformat(),
        "data": {"webhook_id": str(endpoint.id), "organizer_id": str(endpoint.organizer_id)},
    }
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event_id,
        topic=PING_TOPIC,
        body=json.dumps(body, separators=(",", ":"), sort_keys=True),
        status=WebhookDeliveryStatus.pending,
        attempts=0,
    )
    session.add(delivery)
    await session.flush()
    await session.refresh(delivery)
    return delivery


async def redeliver(
    session: AsyncSession, actor: User, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivered or failed delivery again, now, with a fresh retry schedule: the same
    body and event id, so a receiver that already has it can tell."""
    endpoint = await get_webhook(session, actor, webhook_id)
    delivery = await repository.lock_delivery(session, endpoint.id, delivery_id)
    if delivery is None:
        raise WebhookDeliveryNotFound()
    if delivery.status == WebhookDeliveryStatus.pending:
        raise WebhookDeliveryPending(
            f"It is due at {delivery.next_attempt_at.isoformat()}; nothing to do"
        )
    if not endpoint.is_active:
        raise WebhookInactive("Switch it on first: PUT /api/webhooks/{id} with is_active true")
    delivery.status = WebhookDeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.delivered_at = None
    await session.flush()
    return delivery


async def delete_webhook(session: AsyncSession, actor: User, webhook_id: uuid.UUID) -> None:
    endpoint = await get_webhook(session, actor, webhook_id)
    audit.record(
        session,
        actor,
        AuditAction.webhook_deleted,
        "webhook",
        endpoint.id,
        organizer_id=endpoint.organizer_id,
        host=urlsplit(endpoint.url).hostname,
    )
    await session.delete(endpoint)
    await session.flush()


async def list_deliveries(
    session: AsyncSession, actor: User, webhook_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[WebhookDelivery], int]:
    endpoint = await get_webhook(session, actor, webhook_id)
    return await repository.list_deliveries(session, endpoint.id, page)


async def list_following(
    session: AsyncSession, actor: User, page: PageParams
) -> tuple[list[OrganizerFollowOut], int]:
    rows, total = await repository.subscriptions(session, repository.FOLLOWS, actor.id, page)
    return [
        OrganizerFollowOut(
            organizer_id=organizer.id,
            organizer_name=organizer.full_name,
            followed_at=follow.created_at,
        )
        for follow, organizer in rows
    ], total


async def list_interests(
    session: AsyncSession, actor: User, page: PageParams
) -> tuple[list[EventInterestOut], int]:
    rows, total = await repository.subscriptions(session, repository.INTERESTS, actor.id, page)
    return [
        EventInterestOut(
            event_id=event.id,
            event_title=event.title,
            sale_starts_at=event.sale_starts_at,
            interested_at=interest.created_at,
        )
        for interest, event in rows
    ], total
