"""Best-available selection over a cached seat map (pure: no database).

Blocks are N adjacent seats of one row (consecutive seat numbers), best first: the
section's order, then the row nearest the stage, then a placement that leaves no single
empty seat at either end when one exists, then nearest the row's centre. The database
claim decides; a pick from a stale map only costs another attempt.

Wheelchair-accessible seats are kept for those who need them, as box offices do: a pick
takes only accessible seats when asked (`accessible=True`), none while they are held back
(`False`), any once the event releases them (`None`). A buyer may always choose one by id.
"""

from collections.abc import Collection

from boxoffice.inventory.seat_map import CachedMap, SeatRow


def _runs(
    row: SeatRow, cached: CachedMap, now: float, avoid: Collection[int], accessible: bool | None
) -> list[range]:
    runs: list[range] = []
    start = None
    state = cached.state
    marked = cached.layout.accessible if accessible is not None else None
    for i, unit_id in enumerate(row.unit_ids):
        ok = (
            unit_id not in avoid
            and (marked is None or (unit_id in marked) is accessible)
            and state.claimable(unit_id, now)
        )
        adjacent = i > 0 and row.numbers[i] == row.numbers[i - 1] + 1
        if ok and start is not None and adjacent:
            continue
        if start is not None:
            runs.append(range(start, i))
            start = None
        if ok:
            start = i
    if start is not None:
        runs.append(range(start, len(row.unit_ids)))
    return runs


def _best_in_row(
    row: SeatRow, runs: list[range], quantity: int
) -> tuple[int, float, list[int]] | None:
    centre = (row.xs[0] + row.xs[-1]) / 2
    best: tuple[int, float, list[int]] | None = None
    for run in runs:
        spare = len(run) - quantity
        if spare < 0:
            continue
        for offset in range(spare + 1):
            gaps = (offset == 1) + (spare - offset == 1)
            first = run.start + offset
            mid = (row.xs[first] + row.xs[first + quantity - 1]) / 2
            score = (gaps, abs(mid - centre))
            if best is None or score < best[:2]:
                best = (gaps, abs(mid - centre), row.unit_ids[first : first + quantity])
    return best


def pick_blocks(
    cached: CachedMap,
    quantity: int,
    *,
    section_ids: Collection[str] | None,
    now: float,
    avoid: Collection[int] = (),
    limit: int = 3,
    accessible: bool | None = False,
) -> list[list[int]]:
    """Up to `limit` candidate blocks of `quantity` adjacent seats, best first."""
    found: list[list[int]] = []
    memo = cached.state.run_memo(now, accessible)
    for position, row in enumerate(cached.layout.rows):
        if section_ids is not None and row.section_id not in section_ids:
            continue
        if memo.get(position, quantity) < quantity:
            continue
        runs = _runs(row, cached, now, avoid, accessible)
        if not avoid:  # `avoid` shortens runs for this request alone
            memo[position] = max((len(run) for run in runs), default=0)
        best = _best_in_row(row, runs, quantity)
        if best is not None:
            found.append(best[2])
            if len(found) >= limit:
                break
    return found


def pick_scattered(
    cached: CachedMap,
    quantity: int,
    *,
    section_ids: Collection[str] | None,
    now: float,
    avoid: Collection[int] = (),
    accessible: bool | None = False,
) -> list[int]:
    """The best `quantity` claimable seats, adjacent or not (when the buyer allows it)."""
    chosen: list[int] = []
    marked = cached.layout.accessible if accessible is not None else None
    memo = cached.state.run_memo(now, accessible)
    for position, row in enumerate(cached.layout.rows):
        if section_ids is not None and row.section_id not in section_ids:
            continue
        if memo.get(position) == 0:
            continue
        before = len(chosen)
        for unit_id in row.unit_ids:
            if (
                unit_id not in avoid
                and (marked is None or (unit_id in marked) is accessible)
                and cached.state.claimable(unit_id, now)
            ):
                chosen.append(unit_id)
                if len(chosen) == quantity:
                    return chosen
        if not avoid and len(chosen) == before:
            memo[position] = 0
    return []
