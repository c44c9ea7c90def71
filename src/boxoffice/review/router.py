import uuid

from fastapi import APIRouter, Request, Response

from boxoffice.auth.dependencies import CurrentUser
from boxoffice.db.engine import Session
from boxoffice.kit.errors import PROBLEM_RESPONSES
from boxoffice.kit.lean_route import LeanRoute
from boxoffice.kit.pagination import Page, Pagination
from boxoffice.review import schemas, service

router = APIRouter(
    prefix="/api", tags=["reviews"], responses=PROBLEM_RESPONSES, route_class=LeanRoute
)


@router.get(
    "/events/{event_id}/reviews",
    response_model=Page[schemas.Review],
    summary="Reviews of an event, newest first",
)
async def list_reviews(
    request: Request, session: Session, page: Pagination, event_id: uuid.UUID
) -> Page[schemas.Review]:
    reviews, total = await service.list_reviews(session, event_id, page)
    return Page[schemas.Review].build(reviews, total, page, request)


@router.post(
    "/events/{event_id}/reviews",
    response_model=schemas.Review,
    status_code=201,
    summary="Review an event (once per user)",
)
async def create_review(
    session: Session, user: CurrentUser, event_id: uuid.UUID, body: schemas.ReviewCreate
) -> schemas.Review:
    return await service.create_review(session, user, event_id, body)


@router.put("/reviews/{review_id}", response_model=schemas.Review, summary="Edit your review")
async def update_review(
    session: Session, user: CurrentUser, review_id: uuid.UUID, body: schemas.ReviewUpdate
) -> schemas.Review:
    return await service.update_review(session, user, review_id, body)


@router.delete("/reviews/{review_id}", status_code=204, summary="Delete your review")
async def delete_review(session: Session, user: CurrentUser, review_id: uuid.UUID) -> Response:
    await service.delete_review(session, user, review_id)
    return Response(status_code=204)
