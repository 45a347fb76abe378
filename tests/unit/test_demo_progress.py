"""The demo's progress display: a step's line ends `ok` with what it showed below it, or
`FAILED` with one line naming the step and why (its own reason, or its bound)."""

import asyncio
import io

import pytest

from tickets.demo.progress import Progress, StepFailed, eventually
from tickets.demo.report import statistics_lines


async def test_a_step_that_happens_is_ok_with_its_details_below() -> None:
    out = io.StringIO()
    progress = Progress(total=2, out=out, bound=30)

    async def work() -> str:
        progress.detail("the customer receives: hola")
        return "TICKET-2026-000001"

    assert await progress.step("a ticket is opened", work) == "TICKET-2026-000001"
    progress.detail("between steps")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[ 1/2] a ticket is opened ... ok (")
    assert lines[1:] == ["        the customer receives: hola", "        between steps"]


async def test_a_refused_step_names_itself_and_the_reason() -> None:
    out = io.StringIO()
    progress = Progress(total=15, out=out, bound=30)

    async def refused() -> None:
        raise StepFailed("PUT /api/v2/tickets/T/assign answered 409 invalid_transition: no")

    with pytest.raises(StepFailed) as failed:
        await progress.step("Ana takes it", refused)
    assert str(failed.value) == (
        "demo step 1/15 (Ana takes it): PUT /api/v2/tickets/T/assign answered 409 "
        "invalid_transition: no"
    )
    assert out.getvalue() == "[ 1/15] Ana takes it ... FAILED\n"


async def test_a_step_that_never_happens_fails_at_its_bound() -> None:
    out = io.StringIO()
    progress = Progress(total=3, out=out, bound=0.05)
    never = asyncio.Event()

    async def waits() -> None:
        await eventually(lambda: _never(never))

    with pytest.raises(StepFailed, match=r"^demo step 1/3 \(the agent sees it\): did not happen"):
        await progress.step("the agent sees it", waits)
    assert out.getvalue().endswith("FAILED\n")


async def _never(event: asyncio.Event) -> bool | None:
    return True if event.is_set() else None


def test_statistics_read_as_a_person_would() -> None:
    report = {
        "total": 1,
        "byStatus": {"new": 0, "closed": 1},
        "avgFirstResponseTime": 350,
        "avgResolutionTime": 180_000,
        "sla": {"firstResponse": {"percent": 100.0}, "resolution": {"percent": None}},
        "reopenRate": {"percent": 0.0},
    }
    assert statistics_lines(report) == [
        "tickets: 1 (closed 1)",
        "average first response 0.3 s, resolution 3.0 min",
        "SLA met: first response 100%, resolution -; reopen rate 0%",
    ]


async def test_anything_else_going_wrong_is_still_one_line_naming_the_step() -> None:
    out = io.StringIO()
    progress = Progress(total=15, out=out, bound=30)

    async def odd_answer() -> None:
        ticket: dict[str, object] = {}
        ticket["sla"]  # an answer without the field

    with pytest.raises(StepFailed) as failed:
        await progress.step("Ana waits for the customer", odd_answer)
    assert str(failed.value) == "demo step 1/15 (Ana waits for the customer): KeyError: 'sla'"
    assert "\n" not in str(failed.value)
