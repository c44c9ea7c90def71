"""Seat maps served from a per-process cache keyed by the showtime's version.

A full read of a large showtime costs the database tens of milliseconds, so it is never
read per request: the layout (seats, rows, sections, prices) is read once per showtime, and
the state of taken units once per version. A cached map younger than `refresh_ms` is served
without asking the database at all; an older one costs one indexed read of the version
(and of the newest change of the showtime's price tiers: after one, the layout is read
again). The ETag names both and how many holds have lapsed since, because a lapsed hold
shows as available without any write (lazy expiry).

The same cache feeds best-available: candidates are picked from it and claimed in the
database, which has the last word; a stale pick only costs a retry.
"""

import asyncio
import bisect
import gzip
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from boxoffice.db.driver import driver
from boxoffice.db.transaction import Db
from boxoffice.inventory.errors import ShowtimeNotFound
from boxoffice.inventory.models import UnitState
from boxoffice.payment.pricing import FeePolicy, ticket_fee

MAX_CACHED_SHOWTIMES = 64


@dataclass(slots=True)
class SectionInfo:
    id: str
    name: str
    kind: str
    sort_order: int
    capacity: int
    tier: dict[str, Any] | None


@dataclass(slots=True)
class SeatRow:
    section_id: str
    sort_order: int
    row_index: int
    row_label: str
    numbers: list[int]
    unit_ids: list[int]
    xs: list[float]


@dataclass(slots=True)
class Layout:
    showtime_id: uuid.UUID
    version: int
    """The newest change of the showtime's price tiers when it was read (0: none)."""
    sections: list[SectionInfo]
    rows: list[SeatRow]
    """Reserved rows, best first: section order, then nearest the stage."""
    seat_prefix: dict[int, str]
    seat_order: list[int]
    unit_section: dict[int, str]
    accessible: frozenset[int] = frozenset()
    """Units of wheelchair-accessible seats: best available picks them only when asked."""


@dataclass(slots=True)
class TakenState:
    version: int
    taken: dict[int, tuple[str, float | None]]
    """unit id -> (state, held_until as epoch seconds) for every unit not available."""
    ga_taken: dict[str, list[tuple[str, float | None, int]]]
    """section id -> (state, held_until, how many places) of its places not available."""
    hold_deadlines: list[float]
    """Every distinct deadline of a hold on the showtime, sorted: `lapsed` counts those past."""
    loaded_at: float
    checked_at: float
    claimed_here: set[int] = field(default_factory=set)
    """Units this process claimed since the load: best-available avoids them."""
    rendered: dict[int, tuple[bytes, bytes | None]] = field(default_factory=dict)
    statuses: tuple[int, dict[int, tuple[str, float | None]]] | None = None
    """The live stream's view of this state (lapse count, unit id -> status) of its seats
    not available: made once per state and lapse, shared by every client watching."""
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    """The live stream's changes into this state: the ETag a client had -> (this state's
    ETag, the changes as JSON), so clients that saw the same state share one diff."""
    longest_runs: dict[bool | None, tuple[int, dict[int, int]]] = field(default_factory=dict)
    """Best available's memo, per kind of seat (accessible, not, or any): the lapse count it was
    made at, and per row (its position in `Layout.rows`) the longest run of claimable seats
    when the row was last scanned. Within one state, claims only shorten runs and only a
    lapse lengthens them (which starts a new memo), so a run remembered too short for a
    request rules its row out without a scan: once the best rows are sold, a pick no longer
    walks every seat in front of the free ones."""

    def lapsed(self, now: float) -> int:
        return bisect.bisect_right(self.hold_deadlines, now)

    def run_memo(self, now: float, accessible: bool | None) -> dict[int, int]:
        """The longest-run memo for `accessible` seats, valid at `now`."""
        lapsed = self.lapsed(now)
        entry = self.longest_runs.get(accessible)
        if entry is None or entry[0] != lapsed:
            entry = self.longest_runs[accessible] = (lapsed, {})
        return entry[1]

    def claimable(self, unit_id: int, now: float) -> bool:
        if unit_id in self.claimed_here:
            return False
        taken = self.taken.get(unit_id)
        if taken is None:
            return True
        state, until = taken
        return state == "held" and until is not None and until < now


@dataclass(slots=True)
class CachedMap:
    layout: Layout
    state: TakenState


# The newest change of a showtime's price tiers (changes of one showtime are serialised by
# its row lock, so their ids grow in commit order), plus the newest of its event's booking
# fees (serialised by the event's row): a sum of two growing numbers, so either one
# changing changes it.
_TIERS_VERSION = """((SELECT COALESCE(max(ch.id), 0) FROM price_tier_changes ch
          JOIN price_tiers changed ON changed.id = ch.price_tier_id
         WHERE changed.showtime_id = {showtime})
     + (SELECT COALESCE(max(fc.id), 0) FROM event_fee_changes fc
          JOIN showtimes feed ON feed.event_id = fc.event_id
         WHERE feed.id = {showtime}))"""

_LAYOUT_SECTIONS = f"""
SELECT sec.id, sec.name, sec.kind, sec.sort_order,
       (SELECT count(*) FROM inventory_units u WHERE u.showtime_id = st.id
         AND u.section_id = sec.id) AS units,
       pt.id AS tier_id, pt.name AS tier_name, pt.price_minor, pt.currency,
       e.fee_percent_bp, e.fee_per_ticket_minor,
       {_TIERS_VERSION.format(showtime="st.id")} AS layout_version
  FROM showtimes st
  JOIN events e ON e.id = st.event_id
  JOIN sections sec ON sec.venue_id = st.venue_id
  LEFT JOIN price_tiers pt ON pt.showtime_id = st.id AND pt.section_id = sec.id
 WHERE st.id = $1
 ORDER BY sec.sort_order, sec.name
"""  # noqa: S608 (constants only)

_LAYOUT_SEATS = """
SELECT u.id, u.section_id, s.row_label, s.row_index, s.number, s.x, s.y, s.accessible, s.id
  FROM inventory_units u JOIN seats s ON s.id = u.seat_id
 WHERE u.showtime_id = $1
 ORDER BY s.row_index, s.number
"""

# The taken states named, so the read goes through the (showtime_id, state) index.
_TAKEN_STATES = ", ".join(
    f"'{state.value}'" for state in UnitState if state is not UnitState.available
)

HELD = UnitState.held.value
SOLD: tuple[str, float | None] = (UnitState.sold.value, None)
BLOCKED: tuple[str, float | None] = (UnitState.blocked.value, None)

# One statement, so the version and the rows come from one snapshot. Seats come back as
# arrays of unit ids per state (plus the held ones' deadlines, in the same order), general
# admission counted per (section, state, deadline): asyncpg decodes an int8[] in one C loop,
# where a row per taken unit cost ~3 us of Python each (130 ms for 36,000 taken seats, paid
# on every refresh of a map whose showtime is selling).
_TAKEN = f"""
SELECT (SELECT COALESCE(sum(version), 0)::bigint
          FROM inventory_versions WHERE showtime_id = $1) AS version,
       seats.sold, seats.blocked, seats.held, seats.held_until,
       ga.sections AS ga_sections, ga.states AS ga_states, ga.until AS ga_until,
       ga.counts AS ga_counts
  FROM (SELECT array_agg(id) FILTER (WHERE state = '{UnitState.sold.value}') AS sold,
               array_agg(id) FILTER (WHERE state = '{UnitState.blocked.value}') AS blocked,
               array_agg(id ORDER BY id) FILTER (WHERE state = '{UnitState.held.value}') AS held,
               array_agg(extract(epoch FROM held_until)::float8 ORDER BY id)
                 FILTER (WHERE state = '{UnitState.held.value}') AS held_until
          FROM inventory_units
         WHERE showtime_id = $1 AND state IN ({_TAKEN_STATES}) AND seat_id IS NOT NULL) seats,
       (SELECT array_agg(section_id::text ORDER BY section_id, state, until) AS sections,
               array_agg(state::text ORDER BY section_id, state, until) AS states,
               array_agg(until ORDER BY section_id, state, until) AS until,
               array_agg(n ORDER BY section_id, state, until) AS counts
          FROM (SELECT section_id, state, extract(epoch FROM held_until)::float8 AS until,
                       count(*)::int AS n
                  FROM inventory_units
                 WHERE showtime_id = $1 AND state IN ({_TAKEN_STATES}) AND seat_id IS NULL
                 GROUP BY 1, 2, 3) g) ga
"""  # noqa: S608 (constants only)

_VERSION = f"""
SELECT (SELECT COALESCE(sum(version), 0)::bigint FROM inventory_versions WHERE showtime_id = $1),
       {_TIERS_VERSION.format(showtime="$1")}
"""  # noqa: S608 (constants only)


async def _load_sections(db: Db, showtime_id: uuid.UUID) -> tuple[list[SectionInfo], int]:
    """The showtime's sections with their tiers, and the layout version they were read at."""
    section_rows = await (await driver(db)).fetch(_LAYOUT_SECTIONS, showtime_id)
    if not section_rows:
        raise ShowtimeNotFound()
    fees = FeePolicy(section_rows[0]["fee_percent_bp"], section_rows[0]["fee_per_ticket_minor"])
    return [
        SectionInfo(
            id=str(r["id"]),
            name=r["name"],
            kind=r["kind"],
            sort_order=r["sort_order"],
            capacity=r["units"],
            tier=None
            if r["tier_id"] is None
            else {
                "id": str(r["tier_id"]),
                "name": r["tier_name"],
                "price_minor": r["price_minor"],
                # One ticket's percent and per-ticket booking fees: the all-in price.
                "fee_minor": (fee := ticket_fee(fees, r["price_minor"])),
                "price_with_fees_minor": r["price_minor"] + fee,
                "currency": r["currency"],
            },
        )
        for r in section_rows
    ], int(section_rows[0]["layout_version"])


async def _load_layout(db: Db, showtime_id: uuid.UUID) -> Layout:
    sections, version = await _load_sections(db, showtime_id)
    conn = await driver(db)
    order = {s.id: s.sort_order for s in sections}
    rows: dict[tuple[str, int], SeatRow] = {}
    prefix: dict[int, str] = {}
    order_ids: list[int] = []
    unit_section: dict[int, str] = {}
    accessible: set[int] = set()
    for r in await conn.fetch(_LAYOUT_SEATS, showtime_id):
        unit_id, section_id = int(r[0]), str(r[1])
        key = (section_id, r[3])
        row = rows.get(key)
        if row is None:
            row = rows[key] = SeatRow(section_id, order[section_id], r[3], r[2], [], [], [])
        row.numbers.append(r[4])
        row.unit_ids.append(unit_id)
        row.xs.append(r[5])
        unit_section[unit_id] = section_id
        if r[7]:
            accessible.add(unit_id)
        order_ids.append(unit_id)
        prefix[unit_id] = (
            f'{{"unit_id":{unit_id},"seat_id":{r[8]},"row":{json.dumps(r[2])},'
            f'"number":{r[4]},"x":{r[5]},"y":{r[6]},"accessible":{"true" if r[7] else "false"},'
        )
    ordered = sorted(rows.values(), key=lambda row: (row.sort_order, row.section_id, row.row_index))
    return Layout(
        showtime_id,
        version,
        sections,
        ordered,
        prefix,
        order_ids,
        unit_section,
        frozenset(accessible),
    )


async def _load_state(db: Db, showtime_id: uuid.UUID) -> TakenState:
    conn = await driver(db)
    r = await conn.fetchrow(_TAKEN, showtime_id)
    taken: dict[int, tuple[str, float | None]] = dict.fromkeys(r["sold"] or (), SOLD)
    taken.update(dict.fromkeys(r["blocked"] or (), BLOCKED))
    held_until: list[float] = r["held_until"] or []
    taken.update(zip(r["held"] or (), [(HELD, until) for until in held_until], strict=True))
    ga_taken: dict[str, list[tuple[str, float | None, int]]] = {}
    deadlines = {until for until in held_until if until is not None}
    for section_id, state, until, count in zip(
        r["ga_sections"] or (),
        r["ga_states"] or (),
        r["ga_until"] or (),
        r["ga_counts"] or (),
        strict=True,
    ):
        until = until if state == HELD else None
        if until is not None:
            deadlines.add(until)
        ga_taken.setdefault(section_id, []).append((state, until, count))
    now = time.monotonic()
    return TakenState(int(r["version"]), taken, ga_taken, sorted(deadlines), now, now)


class SeatMapCache:
    """Per-process cache of seat maps; one load at a time per showtime."""

    def __init__(self, refresh_ms: int = 250) -> None:
        self.refresh_seconds = refresh_ms / 1000
        self._maps: OrderedDict[uuid.UUID, CachedMap] = OrderedDict()
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._sections: dict[uuid.UUID, list[SectionInfo]] = {}

    def _fresh(self, showtime_id: uuid.UUID, max_age: float) -> CachedMap | None:
        cached = self._maps.get(showtime_id)
        if cached is not None and time.monotonic() - cached.state.checked_at <= max_age:
            return cached
        return None

    async def get(
        self, db: Db, showtime_id: uuid.UUID, *, max_age: float | None = None
    ) -> CachedMap:
        """The showtime's map, at most `max_age` seconds (default `refresh_ms`) unchecked."""
        max_age = self.refresh_seconds if max_age is None else max_age
        cached = self._fresh(showtime_id, max_age)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(showtime_id, asyncio.Lock())
        async with lock:
            cached = self._fresh(showtime_id, max_age)
            if cached is not None:
                return cached
            cached = self._maps.get(showtime_id)
            if cached is None:
                layout = await _load_layout(db, showtime_id)
                cached = CachedMap(layout, await _load_state(db, showtime_id))
            else:
                conn = await driver(db)
                version, layout_version = await conn.fetchrow(_VERSION, showtime_id)
                if layout_version != cached.layout.version:
                    # Its prices changed: the layout shows them.
                    self._sections.pop(showtime_id, None)
                    layout = await _load_layout(db, showtime_id)
                    cached = CachedMap(layout, await _load_state(db, showtime_id))
                elif version == cached.state.version:
                    cached.state.checked_at = time.monotonic()
                else:
                    cached = CachedMap(cached.layout, await _load_state(db, showtime_id))
            self._maps[showtime_id] = cached
            self._maps.move_to_end(showtime_id)
            while len(self._maps) > MAX_CACHED_SHOWTIMES:
                evicted, _ = self._maps.popitem(last=False)
                self._locks.pop(evicted, None)
            return cached

    async def sections(self, db: Db, showtime_id: uuid.UUID) -> list[SectionInfo]:
        """The showtime's sections with their kind and price tier: fixed like the layout,
        and loaded on their own (one small query), so a general-admission hold never waits
        for a whole seat map to be built."""
        cached = self._maps.get(showtime_id)
        if cached is not None:
            return cached.layout.sections
        sections = self._sections.get(showtime_id)
        if sections is None:
            sections, _ = await _load_sections(db, showtime_id)
            self._sections[showtime_id] = sections
            while len(self._sections) > MAX_CACHED_SHOWTIMES:
                self._sections.pop(next(iter(self._sections)))
        return sections

    def note_claimed(self, showtime_id: uuid.UUID, unit_ids: list[int]) -> None:
        cached = self._maps.get(showtime_id)
        if cached is not None:
            cached.state.claimed_here.update(unit_ids)


def etag(cached: CachedMap, now: float | None = None) -> str:
    now = time.time() if now is None else now
    return f'"{cached.layout.version}.{cached.state.version}.{cached.state.lapsed(now)}"'


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def render(cached: CachedMap, *, gzipped: bool, now: float | None = None) -> bytes:
    """The map as JSON bytes (optionally gzip), rendered once per version and lapse count."""
    now = time.time() if now is None else now
    state, layout = cached.state, cached.layout
    lapsed = state.lapsed(now)
    body, packed = state.rendered.get(lapsed, (b"", None))
    if not body:
        body = _render(layout, state, now)
        state.rendered = {lapsed: (body, None)}
    if not gzipped:
        return body
    if packed is None:
        packed = gzip.compress(body, compresslevel=1)
        state.rendered[lapsed] = (body, packed)
    return packed


def seat_status(taken: tuple[str, float | None] | None, now: float) -> tuple[str, float | None]:
    if taken is None:
        return "available", None
    state, until = taken
    if state == "held":
        if until is not None and until < now:
            return "available", None
        return "held", until
    return state, None


def _render(layout: Layout, state: TakenState, now: float) -> bytes:
    seats_by_section: dict[str, list[str]] = {s.id: [] for s in layout.sections}
    counts: dict[str, dict[str, int]] = {
        s.id: {"available": 0, "held": 0, "sold": 0, "blocked": 0} for s in layout.sections
    }
    for unit_id in layout.seat_order:
        section_id = layout.unit_section[unit_id]
        status, until = seat_status(state.taken.get(unit_id), now)
        counts[section_id][status] += 1
        tail = (
            f'"status":"held","held_until":"{_iso(until)}"}}'
            if until is not None
            else f'"status":"{status}"}}'
        )
        seats_by_section[section_id].append(layout.seat_prefix[unit_id] + tail)
    parts = []
    for section in layout.sections:
        count = counts[section.id]
        if section.kind == "general_admission":
            for unit_state, until, units in state.ga_taken.get(section.id, []):
                status, _ = seat_status((unit_state, until), now)
                count[status] += units
            count["available"] = section.capacity - count["held"] - count["sold"] - count["blocked"]
        head = json.dumps(
            {
                "section_id": section.id,
                "name": section.name,
                "kind": section.kind,
                "sort_order": section.sort_order,
                "price_tier": section.tier,
                "capacity": section.capacity,
                **count,
            }
        )
        parts.append(head[:-1] + ',"seats":[' + ",".join(seats_by_section[section.id]) + "]}")
    document = (
        f'{{"showtime_id":"{layout.showtime_id}","version":{state.version},'
        f'"generated_at":"{_iso(now)}","sections":[' + ",".join(parts) + "]}"
    )
    return document.encode()
