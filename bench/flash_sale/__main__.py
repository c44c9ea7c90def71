"""`./dev bench flash_sale [--buyers N] [--seconds S]`: one report, JSON on stdout.

Needs a PostgreSQL server: BOXOFFICE_BENCH_DATABASE_URL, else BOXOFFICE_TEST_DATABASE_URL,
else BOXOFFICE_DATABASE_URL. A throwaway database is created on it and dropped afterwards.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import psutil

from bench.flash_sale import direct
from bench.flash_sale.seed import BenchData, oversold, presell, reset_stock, seeded_database
from boxoffice.auth.models import Role
from boxoffice.auth.security import create_access_token
from boxoffice.config import AuthSettings

PORT = 8765


def _serve(dsn: str, workers: int, pool_size: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BOXOFFICE_DATABASE_URL": dsn,
        "BOXOFFICE_DATABASE_POOL_SIZE": str(pool_size),
        "BOXOFFICE_DATABASE_MAX_OVERFLOW": "0",
        "BOXOFFICE_DATABASE_POOL_TIMEOUT": "30",
        "BOXOFFICE_LOG_ACCESS": "false",
        "BOXOFFICE_LOG_LEVEL": "WARNING",
        # The buyers here are bots in a closed loop, about one hold a second each: the
        # per-account allowance (60 a minute) stays on, counted, but never reached.
        "BOXOFFICE_BOOKING_HOLD_ATTEMPTS_PER_MINUTE": "1000000",
    }
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "boxoffice",
            "serve",
            "--port",
            str(PORT),
            "--workers",
            str(workers),
        ],
        env=env,
    )
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    sys.exit("the server did not start")


def _loadgen(config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.flash_sale.loadgen"],
        input=json.dumps(config).encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"the load generator failed:\n{done.stderr.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _http_run(
    dsn: str,
    data: BenchData,
    workers: int,
    args: argparse.Namespace,
    think_ms: float = 0,
    presold_pct: int | None = None,
    extras: bool = True,
) -> dict[str, Any]:
    """`presold_pct`: best-available buyers (a quantity each, no seat ids) on a map whose
    front rows are that much sold, instead of buyers choosing their seats. `extras`: after a
    closed loop of seat-choosing buyers, also the map reads and the floor requests."""
    asyncio.run(reset_stock(dsn, data.showtime_id))
    presold = 0 if presold_pct is None else asyncio.run(presell(dsn, data, presold_pct))
    auth = AuthSettings()
    tokens = [
        create_access_token(auth, user_id=u, role=Role.buyer, token_version=0, ttl=None)
        for u in data.buyer_ids
    ]
    server = _serve(dsn, workers, args.pool_size)
    try:
        base = {"host": "127.0.0.1", "port": PORT, "showtime_id": str(data.showtime_id)}
        cpu_before = _cpu_seconds(server.pid)
        mark = CpuMark.now()
        sale = _loadgen(
            {
                **base,
                "mode": "flash_sale",
                "buyers": args.buyers,
                "seconds": args.seconds,
                "think_ms": think_ms,
                "tokens": tokens,
                "seat_ids": data.seat_ids,
                "floor_section_id": str(data.floor_section_id),
                "best_available": presold_pct is not None,
            }
        )
        spent, server_cpu = CpuMark.now().since(mark), _cpu_seconds(server.pid) - cpu_before
        if presold_pct is not None:
            sale["seats_presold"] = presold
        requests = (sale["hold_attempts_per_s"] + sale["bookings_per_s"]) * sale["seconds"]
        sale["server_cpu_ms_per_request"] = round(server_cpu / max(requests, 1) * 1000, 2)
        sale["cpu_ms_per_hold"] = _per_hold(
            sale,
            server=server_cpu,
            load_generator=spent.children,
            database_and_rest=spent.busy - server_cpu - spent.children - spent.own,
        )
        sale["machine_busy_pct"] = spent.busy_pct
        sale["database_check"] = asyncio.run(oversold(dsn, data.showtime_id))
        if extras and not think_ms and presold_pct is None:
            sale["seat_map_50k"] = _loadgen({**base, "mode": "seat_map", "reads": 50})
            sale["floor"] = {
                label: _floor(server.pid, {**base, **config, "clients": args.buyers})
                for label, config in (
                    ("health_no_auth_no_database", {"path": "/health"}),
                    ("authenticated_read", {"path": "/api/users/me", "tokens": tokens}),
                )
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    return sale


def _http_label(workers: int) -> str:
    return f"http_{workers}_worker{'s' if workers > 1 else ''}"


def _floor(server_pid: int, config: dict[str, Any]) -> dict[str, Any]:
    """A closed loop on one GET, 3 s: its rate and the server's CPU per request."""
    before = _cpu_seconds(server_pid)
    result = _loadgen({**config, "mode": "floor", "seconds": 3})
    result["server_cpu_ms_per_request"] = _cpu_ms_per_request(
        server_pid, before, result["requests"]
    )
    return result


@dataclass(frozen=True)
class CpuMark:
    """CPU seconds so far: the machine's busy time (all cores, steal excluded), this
    process's, and its finished children's (a load generator run is one)."""

    busy: float
    own: float
    children: float
    wall: float

    @classmethod
    def now(cls) -> "CpuMark":
        machine, mine = psutil.cpu_times(), os.times()
        busy = sum(
            getattr(machine, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq")
        )
        return cls(
            busy=busy,
            own=mine.user + mine.system,
            children=mine.children_user + mine.children_system,
            wall=time.monotonic(),
        )

    def since(self, before: "CpuMark") -> "CpuSpent":
        wall = self.wall - before.wall
        busy = self.busy - before.busy
        return CpuSpent(
            busy=busy,
            own=self.own - before.own,
            children=self.children - before.children,
            # The machine's counters tick in hundredths of a second: a short span can read
            # a little over its capacity.
            busy_pct=min(round(100 * busy / max(wall * (psutil.cpu_count() or 1), 1e-9), 1), 100),
        )


@dataclass(frozen=True)
class CpuSpent:
    busy: float
    own: float
    children: float
    busy_pct: float


def _per_hold(result: dict[str, Any], **seconds: float) -> dict[str, float]:
    """Where the machine's CPU went, in ms per successful hold (each hold also booked), so
    a direct run and an HTTP run compare part by part: `database_and_rest` is the machine's
    busy time less the parts measured by process (PostgreSQL, and anything else running)."""
    holds = max(result["holds_per_s"] * result["seconds"], 1)
    split = {name: round(max(value, 0.0) * 1000 / holds, 2) for name, value in seconds.items()}
    split["machine"] = round(sum(max(v, 0.0) for v in seconds.values()) * 1000 / holds, 2)
    return split


def _cpu_ms_per_request(pid: int, cpu_before: float, requests: float) -> float:
    """The server's CPU since `cpu_before`, in ms per request served."""
    return round((_cpu_seconds(pid) - cpu_before) / max(requests, 1) * 1000, 3)


def _cpu_seconds(pid: int) -> float:
    """CPU time of the server and its worker processes so far."""
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def _direct_run(
    dsn: str, data: BenchData, args: argparse.Namespace, *, baseline: bool, paced: bool = False
) -> dict[str, Any]:
    asyncio.run(reset_stock(dsn, data.showtime_id))
    mark = CpuMark.now()
    result = asyncio.run(
        direct.run(
            dsn,
            data,
            buyers=args.buyers,
            pool_size=args.direct_pool,
            seconds=args.seconds,
            baseline=baseline,
            think_ms=args.think_ms if paced else 0,
        )
    )
    spent = CpuMark.now().since(mark)
    result["cpu_ms_per_hold"] = _per_hold(
        result, client=spent.own, database_and_rest=spent.busy - spent.own
    )
    result["machine_busy_pct"] = spent.busy_pct
    result["database_check"] = asyncio.run(oversold(dsn, data.showtime_id))
    return result


def _interleaved(dsn: str, data: BenchData, args: argparse.Namespace) -> dict[str, Any]:
    """`--interleaved N` rounds of (ceiling, 1 worker, 2 workers), then the ceiling again:
    each HTTP run's ratio is taken against the ceiling runs just before and after it, so a
    machine whose speed drifts over minutes moves both sides of each ratio alike."""
    direct_runs = [_direct_run(dsn, data, args, baseline=False)["holds_per_s"]]
    http: list[dict[int, float]] = []
    for _ in range(args.interleaved):
        http.append({w: _http_run(dsn, data, w, args, extras=False)["holds_per_s"] for w in (1, 2)})
        direct_runs.append(_direct_run(dsn, data, args, baseline=False)["holds_per_s"])
    result: dict[str, Any] = {"direct_holds_per_s": direct_runs, "http_holds_per_s": {}}
    for workers in (1, 2):
        rates = [run[workers] for run in http]
        ratios = [
            round(rate / ((direct_runs[i] + direct_runs[i + 1]) / 2 or 1), 2)
            for i, rate in enumerate(rates)
        ]
        label = _http_label(workers)
        result["http_holds_per_s"][label] = rates
        result[f"ratios_{label}"] = ratios
        result[f"median_ratio_{label}"] = statistics.median(ratios)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench flash_sale")
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pool-size", type=int, default=16, help="DB connections per worker")
    parser.add_argument("--direct-pool", type=int, default=16, help="connections, direct runs")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=2000,
        help="paced runs: a buyer's mean pause before each hold and each booking (0: skip)",
    )
    parser.add_argument(
        "--best-available-presold",
        type=int,
        default=75,
        help="after the ceiling's second run: best-available buyers (1 worker) on a map "
        "whose front PCT%% of rows are 97%% sold (-1: skip)",
    )
    parser.add_argument(
        "--interleaved",
        type=int,
        default=0,
        metavar="N",
        help="then N rounds of ceiling, 1 worker, 2 workers (and the ceiling once more): "
        "ratios against the adjacent ceiling runs, and their median",
    )
    args = parser.parse_args()
    report: dict[str, Any] = {"buyers": args.buyers, "seconds_per_run": args.seconds}
    with seeded_database(args.buyers) as (dsn, data):
        for label, baseline in (
            ("direct_sql_ceiling", False),
            ("per_seat_for_update_baseline", True),
        ):
            report[label] = _direct_run(dsn, data, args, baseline=baseline)
            print(label, json.dumps(report[label]), file=sys.stderr)
        for workers in (1, 2):
            label = _http_label(workers)
            report[label] = _http_run(dsn, data, workers, args)
            print(f"http {workers}", json.dumps(report[label]), file=sys.stderr)
        # The machine's speed drifts (the direct ceiling has moved 10-25% within an hour
        # with nothing else running): the ceiling runs again after the HTTP runs, and the
        # ratios are taken against both and against their mean.
        report["direct_sql_ceiling_after"] = _direct_run(dsn, data, args, baseline=False)
        print("direct again", json.dumps(report["direct_sql_ceiling_after"]), file=sys.stderr)
        ceilings = [report["direct_sql_ceiling"], report["direct_sql_ceiling_after"]]
        for workers in (1, 2):
            result = report[_http_label(workers)]
            # Attempts too: a faster run sells the best seats sooner, so more of its later
            # holds are refused; successful holds alone flatter the slower (HTTP) side.
            for key, field in (
                ("ratio_http_to_direct", "holds_per_s"),
                ("ratio_http_to_direct_attempts", "hold_attempts_per_s"),
            ):
                rates = [c[field] or 1 for c in ceilings]
                result[key] = round(result[field] / (sum(rates) / len(rates)), 2)
                result[f"{key}_before_after"] = [round(result[field] / r, 2) for r in rates]
            # The same comparison by cost: the machine's CPU per hold against the ceiling's.
            direct_cost = [c["cpu_ms_per_hold"]["machine"] or 1 for c in ceilings]
            result["cpu_per_hold_to_direct"] = round(
                result["cpu_ms_per_hold"]["machine"] / (sum(direct_cost) / len(direct_cost)), 2
            )
        if args.interleaved:
            report["interleaved"] = _interleaved(dsn, data, args)
            print("interleaved", json.dumps(report["interleaved"]), file=sys.stderr)
        if args.best_available_presold >= 0:
            # Buyers asking for a quantity, late in the sale: the server picks the seats.
            result = _http_run(dsn, data, 1, args, presold_pct=args.best_available_presold)
            chosen = report[_http_label(1)]
            result["ratio_to_http_1_worker_choosing_seats_attempts"] = round(
                result["hold_attempts_per_s"] / (chosen["hold_attempts_per_s"] or 1), 2
            )
            report["http_1_worker_best_available"] = result
            print("best available", json.dumps(result), file=sys.stderr)
        if args.think_ms:
            # The same buyers pausing like people between steps: latency at a load the
            # server can carry, rather than the queue of a closed loop at saturation.
            paced: dict[str, Any] = {"think_ms": args.think_ms}
            paced["direct_sql"] = _direct_run(dsn, data, args, baseline=False, paced=True)
            print("paced direct", json.dumps(paced["direct_sql"]), file=sys.stderr)
            for workers in (1, 2):
                result = _http_run(dsn, data, workers, args, think_ms=args.think_ms)
                paced[_http_label(workers)] = result
                print(f"paced http {workers}", json.dumps(result), file=sys.stderr)
            report["paced"] = paced
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
