"""Seat layouts generated from a compact spec: rows x seats, row labels, aisles, gaps."""

import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

SEAT_PITCH = 1.0
ROW_PITCH = 1.2
AISLE_WIDTH = 1.0


def row_labels(count: int) -> list[str]:
    """A..Z, then AA..AZ, BA.. (as theatres label rows past Z)."""
    letters = string.ascii_uppercase
    labels: list[str] = []
    for i in range(count):
        label = ""
        n = i
        while True:
            label = letters[n % 26] + label
            n = n // 26 - 1
            if n < 0:
                break
        labels.append(label)
    return labels


@dataclass(frozen=True, slots=True)
class SeatSpec:
    row_label: str
    row_index: int
    number: int
    x: float
    y: float
    accessible: bool


def generate_seats(
    rows: int,
    seats_per_row: int,
    *,
    labels: Sequence[str] | None = None,
    aisles_after: Sequence[int] = (),
    gaps: Sequence[tuple[str, int]] = (),
    accessible_rows: Sequence[str] = (),
    origin: tuple[float, float] = (0.0, 0.0),
) -> Iterator[SeatSpec]:
    """Seats row by row, row 0 nearest the stage.

    `aisles_after`: seat numbers after which an aisle widens the gap (drawing only).
    `gaps`: (row label, seat number) pairs that do not exist (pillars, wheelchair bays).
    `accessible_rows`: rows whose seats are flagged accessible.
    """
    names = list(labels) if labels is not None else row_labels(rows)
    if len(names) != rows:
        raise ValueError("labels must name every row")
    missing = set(gaps)
    aisle_set = sorted(set(aisles_after))
    ox, oy = origin
    for row_index, label in enumerate(names):
        for number in range(1, seats_per_row + 1):
            if (label, number) in missing:
                continue
            aisles_before = sum(1 for a in aisle_set if a < number)
            yield SeatSpec(
                row_label=label,
                row_index=row_index,
                number=number,
                x=ox + (number - 1) * SEAT_PITCH + aisles_before * AISLE_WIDTH,
                y=oy + row_index * ROW_PITCH,
                accessible=label in accessible_rows,
            )


def seats_for_capacity(total: int, *, max_per_row: int = 20) -> Iterator[SeatSpec]:
    """`total` seats in full rows of `max_per_row`, the last row shorter if need be.

    Used by the quick event form (a venue name and a seat count, as seed 001 had it).
    """
    if total < 1 or max_per_row < 1:
        raise ValueError("total and max_per_row must be positive")
    full_rows, rest = divmod(total, max_per_row)
    rows = full_rows + (1 if rest else 0)
    labels = row_labels(rows)
    for spec in generate_seats(rows, max_per_row, labels=labels):
        if rest and spec.row_index == rows - 1 and spec.number > rest:
            continue
        yield spec
