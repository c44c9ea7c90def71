"""`./dev bench best_available [--picks 300]`: what a best-available pick costs in CPU on the
flash sale's 50,000-seat map (200 rows x 250), as the sale fills it from the stage back.

No database and no HTTP: `boxoffice.inventory.best_available` is pure Python over the cached
map, and this is its cost alone. For each share of rows sold (each sold row 97% taken, its
few free seats scattered), `--picks` picks of 1-6 adjacent seats run on one fresh map state,
each pick's seats then marked claimed as `claim_best_available` does (the first pick, of 4
seats, is the one that finds the state new): once as the server
runs them (the row memo of `TakenState.run_memo`), once with the memo emptied before every
pick (every pick walks every row in front of the free ones). One JSON report on stdout.
"""

import argparse
import json
import random
import statistics
import time
import uuid
from typing import Any

from bench.flash_sale.seed import ROWS, SEATS_PER_ROW
from boxoffice.inventory.best_available import pick_blocks
from boxoffice.inventory.seat_map import CachedMap, Layout, SeatRow, TakenState


def _layout() -> Layout:
    rows = []
    unit = 0
    for index in range(ROWS):
        row = SeatRow("stalls", 0, index, f"R{index}", [], [], [])
        for number in range(1, SEATS_PER_ROW + 1):
            unit += 1
            row.numbers.append(number)
            row.unit_ids.append(unit)
            row.xs.append(float(number))
        rows.append(row)
    return Layout(uuid.uuid4(), 0, [], rows, {}, [], {})


def _state(layout: Layout, sold_rows: int, seed: int) -> TakenState:
    rng = random.Random(seed)
    taken: dict[int, tuple[str, float | None]] = {
        unit: ("sold", None)
        for row in layout.rows[:sold_rows]
        for unit in row.unit_ids
        if rng.random() < 0.97
    }
    return TakenState(1, taken, {}, [], 0.0, 0.0)


def _run(layout: Layout, sold_rows: int, picks: int, *, memo: bool) -> dict[str, float]:
    cached = CachedMap(layout, _state(layout, sold_rows, seed=sold_rows))
    rng = random.Random(7)
    now = time.time()
    took: list[float] = []
    for i in range(picks):
        if not memo:
            cached.state.longest_runs.clear()
        quantity = 4 if i == 0 else rng.randint(1, 6)
        started = time.process_time()
        blocks = pick_blocks(cached, quantity, section_ids=None, now=now, limit=1)
        took.append(time.process_time() - started)
        if blocks:
            cached.state.claimed_here.update(blocks[0])
    return {
        "first_pick_of_4_ms": round(took[0] * 1000, 3),
        "mean_ms": round(statistics.fmean(took) * 1000, 3),
        "p99_ms": round(sorted(took)[int(0.99 * (len(took) - 1))] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench best_available")
    parser.add_argument("--picks", type=int, default=300)
    args = parser.parse_args()
    layout = _layout()
    report: dict[str, Any] = {"seats": ROWS * SEATS_PER_ROW, "picks_per_state": args.picks}
    for share in (0.0, 0.05, 0.25, 0.5, 0.75, 0.95):
        sold_rows = int(ROWS * share)
        with_memo = _run(layout, sold_rows, args.picks, memo=True)
        without = _run(layout, sold_rows, args.picks, memo=False)
        report[f"rows_sold_{int(share * 100)}pct"] = {
            "memo": with_memo,
            "no_memo": without,
            "mean_ratio_no_memo_to_memo": round(without["mean_ms"] / with_memo["mean_ms"], 1),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
