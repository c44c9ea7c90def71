"""Best available's row memo never changes a pick: random maps, claims and lapses, each pick
compared with the same pick on a copy of the state that remembers nothing."""

import uuid
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from boxoffice.inventory.best_available import pick_blocks, pick_scattered
from boxoffice.inventory.seat_map import CachedMap, Layout, SeatRow, TakenState


@st.composite
def seat_maps(draw: st.DrawFn) -> CachedMap:
    rows: list[SeatRow] = []
    unit = 0
    accessible: set[int] = set()
    taken: dict[int, tuple[str, float | None]] = {}
    for index in range(draw(st.integers(1, 6))):
        section = draw(st.sampled_from(["a", "b"]))
        row = SeatRow(section, 0, index, f"R{index}", [], [], [])
        numbers = sorted(draw(st.sets(st.integers(1, 14), min_size=1, max_size=12)))
        for number in numbers:  # missing numbers: gaps, which break adjacency
            unit += 1
            row.numbers.append(number)
            row.unit_ids.append(unit)
            row.xs.append(float(number))
            if draw(st.integers(0, 5)) == 0:
                accessible.add(unit)
            kind = draw(st.sampled_from(["free", "free", "sold", "held"]))
            if kind == "sold":
                taken[unit] = ("sold", None)
            elif kind == "held":
                taken[unit] = ("held", float(draw(st.integers(1, 5))))
        rows.append(row)
    deadlines = sorted(until for _, until in taken.values() if until is not None)
    layout = Layout(uuid.uuid4(), 0, [], rows, {}, [], {}, frozenset(accessible))
    return CachedMap(layout, TakenState(1, taken, {}, deadlines, 0.0, 0.0))


# Accessible seats only, none, or any (released to everyone).
_kind = st.sampled_from([True, False, None])
# Units a request avoids (its failed claims): none, some, or a whole row (by position).
_avoid = st.one_of(
    st.just(frozenset[int]()), st.frozensets(st.integers(1, 60), max_size=8), st.integers(0, 5)
)
step = st.one_of(
    st.tuples(st.just("blocks"), st.integers(1, 5), _kind, st.booleans(), _avoid),
    st.tuples(st.just("scattered"), st.integers(1, 5), _kind, st.booleans(), _avoid),
    st.tuples(st.just("claim"), st.integers(1, 60), st.none(), st.none(), st.none()),
    st.tuples(st.just("time"), st.integers(1, 2), st.none(), st.none(), st.none()),
)
Step = tuple[str, int, bool | None, bool | None, frozenset[int] | int | None]


def _forgetful(cached: CachedMap) -> CachedMap:
    """The same state with no memo."""
    state = replace(cached.state, claimed_here=set(cached.state.claimed_here), longest_runs={})
    return CachedMap(cached.layout, state)


@settings(max_examples=300, deadline=None)
@given(cached=seat_maps(), steps=st.lists(step, min_size=1, max_size=25))
def test_the_memo_never_changes_a_pick(cached: CachedMap, steps: list[Step]) -> None:
    now = 0.5
    sections = [None, ["a"], ["b"]]
    for i, (kind, number, accessible, narrow, avoid) in enumerate(steps):
        if kind == "claim":
            cached.state.claimed_here.add(number)
        elif kind == "time":
            now += number  # holds lapse: runs grow again
        else:
            assert avoid is not None
            if isinstance(avoid, int):
                rows = cached.layout.rows
                avoid = frozenset(rows[avoid % len(rows)].unit_ids)
            scope = sections[i % 3] if narrow else None
            fresh = _forgetful(cached)
            if kind == "blocks":
                got = pick_blocks(
                    cached, number, section_ids=scope, now=now, avoid=avoid, accessible=accessible
                )
                assert got == pick_blocks(
                    fresh, number, section_ids=scope, now=now, avoid=avoid, accessible=accessible
                )
            else:
                found = pick_scattered(
                    cached, number, section_ids=scope, now=now, avoid=avoid, accessible=accessible
                )
                assert found == pick_scattered(
                    fresh, number, section_ids=scope, now=now, avoid=avoid, accessible=accessible
                )
