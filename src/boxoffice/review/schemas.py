import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReviewCreate(BaseModel):
    rating: int = Field(ge=1, le=5)
    body: str = Field(default="", max_length=5000, description="The comment")
    metadata: dict[str, Any] = Field(default_factory=dict)


class ReviewUpdate(BaseModel):
    rating: int | None = Field(default=None, ge=1, le=5)
    body: str | None = Field(default=None, max_length=5000)
    metadata: dict[str, Any] | None = None


class Review(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    user_id: uuid.UUID
    author_name: str
    rating: int
    body: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
