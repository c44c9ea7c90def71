import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from boxoffice.auth.models import Role

PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class UserRead(BaseModel):
    """A user as they see themselves (and as sign-in responses describe them)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    phone: str | None
    phone_verified_at: datetime | None
    email_verified_at: datetime | None
    role: Role
    created_at: datetime


class RegisterRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    full_name: str = Field(default="", max_length=200)
    role: Literal[Role.buyer, Role.organizer] = Field(
        default=Role.buyer,
        description="`buyer` (seed: attendee/USER) or `organizer` (seed: host/ORGANIZER); "
        "editor and admin are granted by an admin only",
    )


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires")
    user: UserRead


class SessionRead(BaseModel):
    """One signed-in device."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    method: str
    user_agent: str | None
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool = Field(default=False, description="The session of the calling token")


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PhoneCodeRequest(BaseModel):
    phone: str = Field(pattern=PHONE_PATTERN, description="E.164, e.g. +14155550123")


class PhoneCodeSent(BaseModel):
    phone: str
    expires_in: int = Field(description="Seconds the code stays valid")


class PhoneVerify(BaseModel):
    phone: str = Field(pattern=PHONE_PATTERN)
    code: str = Field(pattern=r"^[0-9]{6}$")


class GoogleAuthorization(BaseModel):
    authorization_url: str = Field(description="Send the browser here")
    state: str = Field(description="Echoed back by the provider; post it to the callback")


class GoogleCallback(BaseModel):
    code: str = Field(min_length=1, max_length=2048)
    state: str = Field(min_length=1, max_length=200)


class PasswordResetRequest(BaseModel):
    email: EmailStr


class PasswordResetRequested(BaseModel):
    detail: str = Field(
        description="The same whether or not an account uses the address",
        examples=["If an active account uses this address, a reset e-mail is on its way"],
    )
    expires_in: int = Field(description="Seconds the e-mailed token works for")


class PasswordResetConfirm(BaseModel):
    token: str = Field(min_length=1, max_length=300)
    new_password: str = Field(min_length=1, max_length=1024)


class EmailVerify(BaseModel):
    token: str = Field(min_length=1, max_length=300)


class EmailVerificationSent(BaseModel):
    expires_in: int = Field(description="Seconds the e-mailed token works for")
