"""What every benchmark hands the suite, and how the suite finds and repeats them.

A benchmark is a module `bench/bench_<name>.py` with

    def run(quick: bool) -> list[Result]        # or `async def run(quick: bool)`

that measures its floor and the project's figure in the same call and returns one
`Result` per measurement. `python -m bench` calls it once per round (a fresh event loop
each time), then reports the median and the spread of each measurement over the rounds.
`quick` asks for one small round (a smoke run: the figures are not the ones to quote).
A module may set `NEEDS_BIG = True`: it then runs only with `python -m bench --big`.
"""

import asyncio
import importlib
import inspect
import os
import pkgutil
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

import bench


@dataclass(frozen=True)
class Goal:
    """What the ratio (project / floor) must be: `Goal("<=", 2.0)`: at most twice the
    floor; `Goal(">=", 0.8)`: at least 80 % of the floor (a throughput)."""

    compare: Literal["<=", ">="]
    ratio: float

    def met(self, ratio: float) -> bool:
        return ratio <= self.ratio if self.compare == "<=" else ratio >= self.ratio

    def __str__(self) -> str:
        return f"{self.compare} {self.ratio:g}x"


@dataclass(frozen=True)
class Result:
    """One measurement of one round: the floor and the project's figure, same unit."""

    measurement: str
    """What is measured, e.g. "push p99, 200 Socket.IO clients"."""
    floor: float
    project: float
    unit: str
    """"ms", "/s", "MB"... the unit of `floor` and `project`."""
    floor_label: str
    """What the floor is: the same work done the thinnest way."""
    goal: Goal | None = None
    """None: shown for information (e.g. the emulator's part measured apart)."""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.project / self.floor if self.floor else float("inf")


Run = Callable[[bool], object]


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Run
    needs_big: bool


def discover() -> list[Benchmark]:
    """Every `bench/bench_*.py` with a `run(quick)`, in name order."""
    return [benchmark for benchmark in _modules() if isinstance(benchmark, Benchmark)]


def unrunnable() -> list[str]:
    """The `bench/bench_*.py` modules without a `run(quick)` (the report names them)."""
    return [name for name in _modules() if isinstance(name, str)]


def _modules() -> Iterator[Benchmark | str]:
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        module: ModuleType = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "run", None)
        if callable(run) and _takes_quick(run):
            yield Benchmark(info.name, run, bool(getattr(module, "NEEDS_BIG", False)))
        else:
            yield info.name


def _takes_quick(run: Callable[..., object]) -> bool:
    try:
        inspect.signature(run).bind(True)
    except TypeError:
        return False
    return True


def run_once(benchmark: Benchmark, quick: bool) -> list[Result]:
    outcome = benchmark.run(quick)
    if inspect.isawaitable(outcome):
        outcome = asyncio.run(_awaited(outcome))
    if not isinstance(outcome, list) or not all(isinstance(r, Result) for r in outcome):
        raise TypeError(f"{benchmark.name}.run must return a list of Result")
    return outcome


async def _awaited(awaitable: object) -> object:
    return await awaitable  # type: ignore[misc]


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> "Spread":
        return cls(statistics.median(values), min(values), max(values))


@dataclass
class Summary:
    """One measurement over the rounds."""

    benchmark: str
    measurement: str
    unit: str
    floor_label: str
    goal: Goal | None
    note: str
    floors: list[float] = field(default_factory=list)
    projects: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    @property
    def floor(self) -> Spread:
        return Spread.of(self.floors)

    @property
    def project(self) -> Spread:
        return Spread.of(self.projects)

    @property
    def ratio(self) -> Spread:
        return Spread.of(self.ratios)

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.ratio.median)


@dataclass
class Outcome:
    """One benchmark over the rounds: its measurements, or why it failed."""

    benchmark: str
    summaries: list[Summary] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    load: list[tuple[float, float, float]] = field(default_factory=list)
    """The load average before each round."""


def measure(benchmark: Benchmark, rounds: int, quick: bool) -> Outcome:
    outcome = Outcome(benchmark.name)
    by_name: dict[str, Summary] = {}
    started = time.perf_counter()
    try:
        for _ in range(rounds):
            outcome.load.append(os.getloadavg())
            for result in run_once(benchmark, quick):
                summary = by_name.setdefault(result.measurement, _summary(benchmark, result))
                summary.floors.append(result.floor)
                summary.projects.append(result.project)
                summary.ratios.append(result.ratio)
    except Exception as error:  # a failed benchmark is reported, the others still run
        outcome.error = f"{type(error).__name__}: {error}"
    outcome.summaries = list(by_name.values())
    outcome.seconds = time.perf_counter() - started
    return outcome


def _summary(benchmark: Benchmark, result: Result) -> Summary:
    return Summary(
        benchmark.name,
        result.measurement,
        result.unit,
        result.floor_label,
        result.goal,
        result.note,
    )


def selected(benchmarks: list[Benchmark], names: list[str], big: bool) -> Iterator[Benchmark]:
    for benchmark in benchmarks:
        if names and benchmark.name not in names and benchmark.name[6:] not in names:
            continue
        if benchmark.needs_big and not big:
            continue
        yield benchmark
