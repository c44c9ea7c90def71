"""`./dev bench exact_routes [--rounds 8] [--window 100] [--cycles 12]`: the CPU a sale
request costs with `ExactRoutes` (a request straight to its route) against FastAPI's router,
in one process, switching every `--window` requests.

`bench/request_cost`'s sale workload (`hold-seats`, then `create` when granted; 16 clients)
through the app's ASGI interface. Three arms share the process: `stock` and `stock2` (both
FastAPI's router: the A/A control, what the same code measures apart) and `exact`. Each
window runs `--window` requests under one arm (the app router's entry switched between
windows, none in flight across a switch); each cycle runs the three arms once, in an order
that turns with the cycle so that none is always first. A round is `--cycles` cycles on a
fresh stock of seats; per round it prints each arm's CPU ms a request (`time.process_time`)
and the ratios exact/stock and stock2/stock, and at the end their spread over the rounds.

Needs a PostgreSQL server, as `bench/request_cost`.
"""

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from typing import Any

import uvloop

from bench.flash_sale.seed import BenchData, reset_stock, seeded_database
from bench.request_cost.__main__ import _asgi_client, _workload
from boxoffice.auth.models import Role
from boxoffice.auth.security import create_access_token
from boxoffice.config import AuthSettings

ARMS = ("stock", "stock2", "exact")


async def _measure(dsn: str, data: BenchData, args: argparse.Namespace) -> dict[str, Any]:
    os.environ.update(
        {
            "BOXOFFICE_DATABASE_URL": dsn,
            "BOXOFFICE_DATABASE_POOL_SIZE": "16",
            "BOXOFFICE_DATABASE_MAX_OVERFLOW": "0",
            "BOXOFFICE_LOG_ACCESS": "false",
            "BOXOFFICE_LOG_LEVEL": "WARNING",
            "BOXOFFICE_BOOKING_HOLD_ATTEMPTS_PER_MINUTE": "1000000",
        }
    )
    from boxoffice.app import create_app
    from boxoffice.config import Settings
    from boxoffice.kit.exact_routes import ExactRoutes

    app = create_app(Settings())
    router = app.router
    exact = router.middleware_stack
    assert isinstance(exact, ExactRoutes), "create_app did not install ExactRoutes"
    entries: dict[str, Any] = {"stock": router.app, "stock2": router.app, "exact": exact}
    auth = AuthSettings()
    tokens = [
        create_access_token(auth, user_id=u, role=Role.buyer, token_version=0, ttl=None).encode()
        for u in data.buyer_ids
    ]
    call = _asgi_client(app)
    orders = list(itertools.permutations(ARMS))
    rounds: list[dict[str, Any]] = []
    async with app.router.lifespan_context(app):
        for arm in ARMS:  # warm-up: every route, statement and path once under each
            router.middleware_stack = entries[arm]
            await _workload(call, "sale", data, tokens, args.clients, 300)
        for round_ in range(args.rounds):
            await reset_stock(dsn, data.showtime_id)
            cpu = dict.fromkeys(ARMS, 0.0)
            done = dict.fromkeys(ARMS, 0)
            for cycle in range(args.cycles):
                for arm in orders[(round_ * args.cycles + cycle) % len(orders)]:
                    router.middleware_stack = entries[arm]
                    started = time.process_time()
                    result = await _workload(call, "sale", data, tokens, args.clients, args.window)
                    cpu[arm] += time.process_time() - started
                    done[arm] += result["requests"]
            per = {arm: cpu[arm] * 1000 / done[arm] for arm in ARMS}
            row = {
                "cpu_ms_per_request": {arm: round(per[arm], 4) for arm in ARMS},
                "requests": done,
                "exact/stock": round(per["exact"] / per["stock"], 4),
                "stock2/stock": round(per["stock2"] / per["stock"], 4),
            }
            rounds.append(row)
            print(f"round {round_}", json.dumps(row), file=sys.stderr)
    router.middleware_stack = exact
    summary: dict[str, Any] = {"window": args.window, "cycles": args.cycles, "rounds": rounds}
    for key in ("exact/stock", "stock2/stock"):
        values = [r[key] for r in rounds]
        summary[key] = {
            "median": round(statistics.median(values), 4),
            "min": min(values),
            "max": max(values),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench exact_routes")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--window", type=int, default=100, help="requests per switch")
    parser.add_argument("--cycles", type=int, default=12, help="cycles of the 3 arms a round")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    with seeded_database(max(args.clients, 50)) as (dsn, data):
        report = uvloop.run(_measure(dsn, data, args))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
