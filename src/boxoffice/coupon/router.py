import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from boxoffice.auth.dependencies import CurrentUser, require
from boxoffice.auth.models import User
from boxoffice.auth.permissions import Permission
from boxoffice.coupon import service
from boxoffice.coupon.schemas import (
    Coupon,
    CouponCreate,
    CouponUpdate,
    CouponValidate,
    DiscountPreview,
)
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination

router = APIRouter(
    prefix="/api/coupons", tags=["coupons"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)

CouponManager = Annotated[User, Depends(require(Permission.coupon_manage))]


@router.post("", response_model=Coupon, status_code=201, summary="Create a coupon")
async def create_coupon(body: CouponCreate, session: Session, user: CouponManager) -> Coupon:
    return Coupon.model_validate(await service.create_coupon(session, user, body))


@router.get("", response_model=Page[Coupon], summary="List coupons (own; admins: all)")
async def list_coupons(
    request: Request,
    session: Session,
    user: CouponManager,
    page: Pagination,
    active: Annotated[bool | None, Query()] = None,
) -> Page[Coupon]:
    coupons, total = await service.list_coupons(session, user, page, active=active)
    return Page[Coupon].build([Coupon.model_validate(c) for c in coupons], total, page, request)


@router.post(
    "/validate",
    response_model=DiscountPreview,
    summary="Preview a coupon's discount for an event and amount (does not use it)",
)
async def validate_coupon(
    body: CouponValidate, session: Session, user: CurrentUser
) -> DiscountPreview:
    discount = await service.preview(
        session,
        code=body.code,
        user_id=user.id,
        event_id=body.event_id,
        subtotal_minor=body.amount_minor,
        currency=body.currency,
    )
    return DiscountPreview(
        coupon_id=discount.coupon_id,
        code=discount.code,
        kind=discount.kind,
        value=discount.value,
        subtotal_minor=discount.subtotal_minor,
        discount_minor=discount.amount_minor,
        total_minor=discount.subtotal_minor - discount.amount_minor,
        currency=discount.currency,
    )


@router.get("/{coupon_id}", response_model=Coupon, summary="A coupon")
async def get_coupon(coupon_id: uuid.UUID, session: Session, user: CouponManager) -> Coupon:
    return Coupon.model_validate(await service.get_coupon(session, user, coupon_id))


@router.put(
    "/{coupon_id}",
    response_model=Coupon,
    summary="Deactivate a coupon or change its limits and validity",
)
async def update_coupon(
    coupon_id: uuid.UUID, body: CouponUpdate, session: Session, user: CouponManager
) -> Coupon:
    return Coupon.model_validate(await service.update_coupon(session, user, coupon_id, body))
