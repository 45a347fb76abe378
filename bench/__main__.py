"""Runs every benchmark under bench/ with its floor, repeats, and writes bench/REPORT.md.

    .venv/bin/python -m bench                  # 3 rounds of each benchmark
    .venv/bin/python -m bench --quick          # 1 small round (a smoke run)
    .venv/bin/python -m bench --big            # also the 100k-ticket embedded engines
    .venv/bin/python -m bench push_latency     # only the named benchmarks
    .venv/bin/python -m bench --list           # what would run

RabbitMQ must answer at RABBITMQ_URL; without MONGODB_URL each benchmark starts its own
embedded Mongo wire server (mongoeco), so the figures are the emulator's.
"""

import argparse
import os
import sys
from pathlib import Path

from bench.report import render
from bench.suite import discover, measure, selected, unrunnable
from infra.logging import configure_logging

DEFAULT_OUT = Path(__file__).parent / "REPORT.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="one small round each")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per benchmark")
    parser.add_argument("--big", action="store_true", help="also the --big benchmarks")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the report to write")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    benchmarks = list(selected(discover(), args.names, args.big))
    if args.list:
        for benchmark in benchmarks:
            print(benchmark.name)
        return 0
    rounds = 1 if args.quick else max(1, args.rounds)
    engine = "MONGODB_URL" if os.environ.get("MONGODB_URL") else "mongoeco (embedded emulator)"
    outcomes = []
    for benchmark in benchmarks:
        print(f"{benchmark.name}: {rounds} round(s)…", flush=True)
        outcome = measure(benchmark, rounds, args.quick)
        for summary in outcome.summaries:
            print(f"  {summary.measurement}: ratio {summary.ratio.median:.2f}x", flush=True)
        if outcome.error:
            print(f"  failed: {outcome.error}", flush=True)
        outcomes.append(outcome)
        # written after each benchmark: a run cut short still leaves what it measured
        report = render(outcomes, rounds, args.quick, engine, unrunnable())
        args.out.write_text(report, encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if any(outcome.error for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
