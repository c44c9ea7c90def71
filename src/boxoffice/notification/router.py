import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from boxoffice.auth.dependencies import AppSettings, CurrentUser, require
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination
from boxoffice.notification import service
from boxoffice.notification.schemas import (
    EventInterestOut,
    MarkedRead,
    NotificationOut,
    NotificationPreferences,
    OrganizerFollowOut,
    PushAccepted,
    PushCreate,
    UnreadCount,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookOut,
    WebhookSecretRotate,
    WebhookUpdate,
)

router = APIRouter(
    prefix="/api", tags=["notifications"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)

Admin = Annotated[User, Depends(require(Permission.user_manage))]
Organizer = Annotated[User, Depends(require(Permission.event_manage))]
UnreadOnly = Annotated[bool, Query(description="Only notifications not yet read")]


async def _notification_page(
    request: Request,
    session: Session,
    user: User,
    user_id: uuid.UUID,
    page: Pagination,
    unread: bool,
) -> Page[NotificationOut]:
    items, total = await service.list_notifications(
        session, user, user_id, page, unread_only=unread
    )
    return Page[NotificationOut].build(
        [NotificationOut.model_validate(n) for n in items], total, page, request
    )


# /me routes come first: "me" is not a UUID and must not reach the {user_id} routes.


@router.get(
    "/users/me/notifications",
    response_model=Page[NotificationOut],
    summary="My notifications, newest first",
)
async def my_notifications(
    request: Request,
    session: Session,
    user: CurrentUser,
    page: Pagination,
    unread: UnreadOnly = False,
) -> Page[NotificationOut]:
    return await _notification_page(request, session, user, user.id, page, unread)


@router.get(
    "/users/me/notifications/unread-count",
    response_model=UnreadCount,
    summary="How many of my notifications are unread",
)
async def my_unread_count(session: Session, user: CurrentUser) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(session, user))


@router.post(
    "/users/me/notifications/read-all",
    response_model=MarkedRead,
    summary="Mark all my notifications read",
)
async def my_read_all(session: Session, user: CurrentUser) -> MarkedRead:
    return MarkedRead(marked=await service.mark_all_read(session, user))


@router.get(
    "/users/me/notification-preferences",
    response_model=NotificationPreferences,
    summary="My channels per notification kind",
)
async def my_preferences(session: Session, user: CurrentUser) -> NotificationPreferences:
    return NotificationPreferences.model_validate(
        {"channels": await service.get_preferences(session, user)}
    )


@router.put(
    "/users/me/notification-preferences",
    response_model=NotificationPreferences,
    summary="Change my channels for the kinds named",
)
async def update_my_preferences(
    session: Session, user: CurrentUser, body: NotificationPreferences
) -> NotificationPreferences:
    changes = {
        kind.value: {channel.value: on for channel, on in channels.items()}
        for kind, channels in body.channels.items()
    }
    return NotificationPreferences.model_validate(
        {"channels": await service.update_preferences(session, user, changes)}
    )


@router.get(
    "/users/me/following",
    response_model=Page[OrganizerFollowOut],
    summary="Organizers I follow",
)
async def my_following(
    request: Request, session: Session, user: CurrentUser, page: Pagination
) -> Page[OrganizerFollowOut]:
    items, total = await service.list_following(session, user, page)
    return Page[OrganizerFollowOut].build(items, total, page, request)


@router.get(
    "/users/me/interests",
    response_model=Page[EventInterestOut],
    summary="Events I am interested in",
)
async def my_interests(
    request: Request, session: Session, user: CurrentUser, page: Pagination
) -> Page[EventInterestOut]:
    items, total = await service.list_interests(session, user, page)
    return Page[EventInterestOut].build(items, total, page, request)


@router.get(
    "/users/{user_id}/notifications",
    response_model=Page[NotificationOut],
    summary="A user's notifications (your own; admins: anyone's)",
)
async def user_notifications(
    request: Request,
    session: Session,
    user: CurrentUser,
    user_id: uuid.UUID,
    page: Pagination,
    unread: UnreadOnly = False,
) -> Page[NotificationOut]:
    return await _notification_page(request, session, user, user_id, page, unread)


@router.put(
    "/users/{user_id}/notifications/{notification_id}/read",
    response_model=NotificationOut,
    summary="Mark a notification read",
)
async def mark_read(
    session: Session, user: CurrentUser, user_id: uuid.UUID, notification_id: uuid.UUID
) -> NotificationOut:
    notification = await service.mark_read(session, user, user_id, notification_id)
    return NotificationOut.model_validate(notification)


@router.post(
    "/organizers/{organizer_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Follow an organizer (notified of their new events)",
)
async def follow(session: Session, user: CurrentUser, organizer_id: uuid.UUID) -> Response:
    await service.follow(session, user, organizer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/organizers/{organizer_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop following an organizer",
)
async def unfollow(session: Session, user: CurrentUser, organizer_id: uuid.UUID) -> Response:
    await service.unfollow(session, user, organizer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/events/{event_id}/interest",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Be notified when the event's sale starts",
)
async def add_interest(session: Session, user: CurrentUser, event_id: uuid.UUID) -> Response:
    await service.add_interest(session, user, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/events/{event_id}/interest",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw interest in an event",
)
async def remove_interest(session: Session, user: CurrentUser, event_id: uuid.UUID) -> Response:
    await service.remove_interest(session, user, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/notifications/push",
    response_model=PushAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Push a notification to an audience (admin)",
)
async def push(session: Session, admin: Admin, body: PushCreate) -> PushAccepted:
    event = await service.push(session, admin, body)
    return PushAccepted(event_id=event.id, audience=body.audience)


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint (organizers)",
)
async def create_webhook(
    session: Session, user: Organizer, settings: AppSettings, body: WebhookCreate
) -> WebhookCreated:
    endpoint = await service.create_webhook(session, user, body, settings.webhook)
    return WebhookCreated.model_validate(endpoint)


@router.get("/webhooks", response_model=Page[WebhookOut], summary="My webhook endpoints")
async def list_webhooks(
    request: Request, session: Session, user: Organizer, page: Pagination
) -> Page[WebhookOut]:
    items, total = await service.list_webhooks(session, user, page)
    return Page[WebhookOut].build(
        [WebhookOut.model_validate(e) for e in items], total, page, request
    )


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, summary="One webhook endpoint")
async def get_webhook(session: Session, user: Organizer, webhook_id: uuid.UUID) -> WebhookOut:
    return WebhookOut.model_validate(await service.get_webhook(session, user, webhook_id))


@router.put(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    summary="Change a webhook endpoint's URL or topics, or switch it off and on again",
)
async def update_webhook(
    session: Session,
    user: Organizer,
    settings: AppSettings,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
) -> WebhookOut:
    endpoint = await service.update_webhook(session, user, webhook_id, body, settings.webhook)
    return WebhookOut.model_validate(endpoint)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookCreated,
    summary="New signing secret (shown once); the old one also signs for an overlap",
)
async def rotate_webhook_secret(
    session: Session,
    user: Organizer,
    settings: AppSettings,
    webhook_id: uuid.UUID,
    body: Annotated[WebhookSecretRotate | None, Body()] = None,
) -> WebhookCreated:
    endpoint = await service.rotate_webhook_secret(
        session, user, webhook_id, body or WebhookSecretRotate(), settings.webhook
    )
    return WebhookCreated.model_validate(endpoint)


@router.post(
    "/webhooks/{webhook_id}/ping",
    response_model=WebhookDeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a signed webhook.ping to the endpoint, to test the receiver",
)
async def ping_webhook(
    session: Session, user: Organizer, webhook_id: uuid.UUID
) -> WebhookDeliveryOut:
    return WebhookDeliveryOut.model_validate(await service.ping_webhook(session, user, webhook_id))


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=WebhookDeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivered or failed delivery again, now (same body and event id)",
)
async def redeliver(
    session: Session, user: Organizer, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDeliveryOut:
    delivery = await service.redeliver(session, user, webhook_id, delivery_id)
    return WebhookDeliveryOut.model_validate(delivery)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook endpoint and its delivery log",
)
async def delete_webhook(session: Session, user: Organizer, webhook_id: uuid.UUID) -> Response:
    await service.delete_webhook(session, user, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[WebhookDeliveryOut],
    summary="Delivery log of a webhook endpoint, newest first",
)
async def list_deliveries(
    request: Request, session: Session, user: Organizer, webhook_id: uuid.UUID, page: Pagination
) -> Page[WebhookDeliveryOut]:
    items, total = await service.list_deliveries(session, user, webhook_id, page)
    return Page[WebhookDeliveryOut].build(
        [WebhookDeliveryOut.model_validate(d) for d in items], total, page, request
    )
