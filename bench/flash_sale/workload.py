"""What the buyers ask for: 1-6 seats each, 80% of them aiming at the best 5% of seats."""

import asyncio
import random
from dataclasses import dataclass

from bench.flash_sale.seed import ROWS, SEATS_PER_ROW

BEST_ROWS = max(1, ROWS // 20)
GA_SHARE = 0.1
"""Share of buyers who want general-admission places instead of seats."""


@dataclass(frozen=True)
class Ask:
    seat_indexes: list[int]
    """Indexes into the best-first seat list (empty for GA)."""
    ga_quantity: int


def ask(rng: random.Random) -> Ask:
    quantity = rng.randint(1, 6)
    if rng.random() < GA_SHARE:
        return Ask([], quantity)
    row = rng.randrange(BEST_ROWS) if rng.random() < 0.8 else rng.randrange(BEST_ROWS, ROWS)
    start = rng.randrange(SEATS_PER_ROW - quantity + 1)
    base = row * SEATS_PER_ROW + start
    return Ask(list(range(base, base + quantity)), 0)


async def pause(rng: random.Random, think: float) -> None:
    """A buyer's think time before each step: uniform in [0.5, 1.5] x `think` seconds."""
    if think > 0:
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
