import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from boxoffice.coupon.models import CouponKind
from boxoffice.kit.money import Currency, MinorUnits
from boxoffice.kit.schema_rules import given, when

CouponCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{3,40}$")]


class Coupon(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    kind: CouponKind
    value: int = Field(description="Whole percent, or minor units of `currency`")
    currency: str | None
    valid_from: datetime
    valid_until: datetime | None
    max_redemptions: int | None
    redeemed_count: int
    max_per_user: int | None
    organizer_id: uuid.UUID | None
    event_ids: list[uuid.UUID]
    created_by: uuid.UUID
    active: bool
    created_at: datetime
    updated_at: datetime


class CouponCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra=when(
            "kind",
            CouponKind.percent.value,
            {"properties": {"value": {"maximum": 100}, "currency": {"type": "null"}}},
            otherwise=given(currency="string"),
        )
    )

    code: CouponCode
    kind: CouponKind
    value: int = Field(ge=1, le=10**9)
    currency: Currency | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    max_redemptions: int | None = Field(default=None, ge=1, le=10**9)
    max_per_user: int | None = Field(default=None, ge=1, le=10**9)
    organizer_id: uuid.UUID | None = Field(
        default=None, description="Organizers: omitted or their own id. Admins: any or none"
    )
    event_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        if self.kind is CouponKind.percent and (self.value > 100 or self.currency is not None):
            raise ValueError("a percent coupon has a value of 1..100 and no currency")
        if self.kind is CouponKind.fixed and self.currency is None:
            raise ValueError("a fixed coupon needs a currency")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class CouponUpdate(BaseModel):
    """Fields sent are changed; `null` removes a limit or an end date."""

    active: bool | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    max_redemptions: int | None = Field(default=None, ge=1, le=10**9)
    max_per_user: int | None = Field(default=None, ge=1, le=10**9)


class CouponValidate(BaseModel):
    code: CouponCode
    event_id: uuid.UUID
    amount_minor: MinorUnits = Field(description="Subtotal the coupon would apply to")
    currency: Currency


class DiscountPreview(BaseModel):
    coupon_id: uuid.UUID
    code: str
    kind: CouponKind
    value: int
    subtotal_minor: int
    discount_minor: int
    total_minor: int = Field(description="Subtotal minus discount (before fees)")
    currency: str
