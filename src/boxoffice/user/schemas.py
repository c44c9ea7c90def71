import enum
import uuid
from datetime import datetime

from pydantic import BaseModel, EmailStr, Field

from boxoffice.auth.models import Role
from boxoffice.auth.schemas import PHONE_PATTERN, UserRead


class UserUpdate(BaseModel):
    """Profile fields a user may change themselves; omitted fields stay as they are."""

    full_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(
        default=None,
        pattern=PHONE_PATTERN,
        description="E.164; changing it clears the verification (verify via /api/auth/phone)",
    )


class AdminUserUpdate(BaseModel):
    """What an admin may correct on an account; omitted fields stay as they are."""

    full_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = None


class AdminUserRead(UserRead):
    """A user as an admin sees them."""

    is_active: bool
    deleted_at: datetime | None
    updated_at: datetime


class RoleChange(BaseModel):
    role: Role


class UserSort(enum.StrEnum):
    created_at = "created_at"
    email = "email"
    role = "role"
    full_name = "full_name"


class EditorGrants(BaseModel):
    """The organizers whose venues and events an editor may manage."""

    editor_id: uuid.UUID
    organizer_ids: list[uuid.UUID]


class AccountDeletion(BaseModel):
    password: str | None = Field(
        default=None,
        max_length=1024,
        description="Your current password (accounts that sign in only with Google have none)",
    )
