import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from boxoffice.kit.outbox import Topic
from boxoffice.notification.models import Channel, NotificationKind, WebhookDeliveryStatus


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    kind: NotificationKind
    title: str
    body: str
    data: dict[str, Any]
    source_event_id: uuid.UUID = Field(description="Domain event that caused it")
    read_at: datetime | None
    created_at: datetime


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int = Field(description="Notifications that were unread and are now read")


ChannelChoices = dict[Channel, bool]


class NotificationPreferences(BaseModel):
    """Kinds x channels. GET returns every kind; PUT may name only the kinds it changes."""

    channels: dict[NotificationKind, ChannelChoices]


class OrganizerFollowOut(BaseModel):
    organizer_id: uuid.UUID
    organizer_name: str
    followed_at: datetime


class EventInterestOut(BaseModel):
    event_id: uuid.UUID
    event_title: str
    sale_starts_at: datetime | None
    interested_at: datetime


class PushAudience(BaseModel):
    type: Literal["user", "organizer_followers", "event_interested", "showtime_holders"] = Field(
        description="One user; all followers of an organizer; everyone interested in an event; "
        "everyone holding a confirmed booking for a showtime"
    )
    id: uuid.UUID = Field(description="The user, organizer, event or showtime id")


class PushCreate(BaseModel):
    audience: PushAudience
    title: Annotated[str, Field(min_length=1, max_length=200)]
    body: Annotated[str, Field(min_length=1, max_length=5000)]
    data: dict[str, Any] = Field(default_factory=dict)


class PushAccepted(BaseModel):
    event_id: uuid.UUID = Field(description="Outbox event; its notifications share this id")
    audience: PushAudience


WebhookSecret = Annotated[str, Field(min_length=16, max_length=200)]


class WebhookCreate(BaseModel):
    url: AnyHttpUrl
    topics: list[Topic] = Field(default_factory=list, description="Empty: every topic")
    secret: WebhookSecret | None = Field(
        default=None, description="Signing secret; generated when omitted"
    )
    organizer_id: uuid.UUID | None = Field(
        default=None, description="Admins only: register for this organizer"
    )


class WebhookUpdate(BaseModel):
    """Fields sent are changed. `is_active: false` switches the endpoint off: deliveries
    already queued wait for it, events in the meantime are not sent to it. `true` switches
    it on again, also after it was switched off for answering 410 Gone."""

    url: AnyHttpUrl | None = None
    topics: list[Topic] | None = Field(default=None, description="Empty: every topic")
    is_active: bool | None = None


class WebhookSecretRotate(BaseModel):
    secret: WebhookSecret | None = Field(
        default=None, description="The new signing secret; generated when omitted"
    )
    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 3600,
        description="How long deliveries are signed with the old secret too (default: "
        "BOXOFFICE_WEBHOOK_SECRET_OVERLAP_SECONDS, 24 h); 0 drops it at once",
    )


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organizer_id: uuid.UUID
    url: str
    topics: list[str]
    is_active: bool
    consecutive_gone: int
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then, deliveries also carry a signature made with the secret "
        "before the last rotation"
    )
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verify `Boxoffice-Signature` with it")


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    topic: str
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
