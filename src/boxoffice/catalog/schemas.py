import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from boxoffice.catalog.models import EventStatus, EventType


class EventSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: uuid.UUID
    title: str
    description: str
    event_type: EventType
    status: EventStatus
    organizer_id: uuid.UUID
    images: list[str]
    metadata: dict[str, Any] = Field(validation_alias="meta")
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    created_at: datetime
