"""limit/offset pagination shared by every list endpoint."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

MAX_LIMIT = 100


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Pagination = Annotated[PageParams, Depends(page_params)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total and the link to the next page."""

    items: list[T]
    total: int = Field(description="Items matching the filters, across all pages")
    limit: int
    offset: int
    next: str | None = Field(default=None, description="URL of the next page, if any")

    @classmethod
    def build(
        cls, items: Sequence[T], total: int, params: PageParams, request: Request
    ) -> "Page[T]":
        next_url = None
        if params.offset + len(items) < total:
            next_url = str(
                request.url.include_query_params(
                    limit=params.limit, offset=params.offset + params.limit
                )
            )
        return cls(
            items=list(items),
            total=total,
            limit=params.limit,
            offset=params.offset,
            next=next_url,
        )


async def all_pages(fetch: Callable[[PageParams], Awaitable[tuple[Sequence[T], int]]]) -> list[T]:
    """Every item of a paginated query, fetched page by page (exports, not endpoints)."""
    items: list[T] = []
    while True:
        page, total = await fetch(PageParams(limit=MAX_LIMIT, offset=len(items)))
        items.extend(page)
        if not page or len(items) >= total:
            return items
