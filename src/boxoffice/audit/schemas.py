import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None = Field(description="None: the system (a job, a provider's webhook)")
    actor_role: str = Field(description="Role when acting: buyer, organizer, editor, admin, system")
    action: str = Field(description="What was done, e.g. booking.cancelled, user.role_changed")
    target_type: str = Field(description="booking, payment, user, event, showtime, ...")
    target_id: str
    organizer_id: uuid.UUID | None = Field(description="The organizer it concerns")
    event_id: uuid.UUID | None
    request_id: str | None = Field(description="X-Request-ID of the request, as in the logs")
    details: dict[str, Any] = Field(description="States, amounts and counts; never personal data")
