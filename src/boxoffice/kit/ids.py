"""Identifier types shared by request schemas."""

from typing import Annotated

from pydantic import Field

RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""The id of a BIGINT-keyed row (a seat, an inventory unit): a larger number names no row
and would not even fit the column, so it is refused as invalid input (422)."""

VERSION_MAX = 2**31 - 1
"""The largest row version (INTEGER): a version past it was never read from a row."""
