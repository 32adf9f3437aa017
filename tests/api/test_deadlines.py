"""api/deadlines.Deadlines: the time limit for reading a request body, one timer for every
request. It must behave like asyncio.timeout: in time, the result; late, TimeoutError at the
deadline with the task still usable; a cancellation from elsewhere stays a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from cartgroups.api.deadlines import Deadlines

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a coroutine on a fresh event loop of each kind (the server's is uvloop)."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


def test_work_done_in_time_gives_its_result_and_leaves_nothing(run: Runner) -> None:
    deadlines = Deadlines(5)

    async def main() -> list[int]:
        results = [await deadlines.run(asyncio.sleep(0, result=n)) for n in range(3)]
        assert not deadlines._due and not deadlines._expired
        await asyncio.sleep(0.01)  # and the task was not cancelled
        return results

    assert run(main()) == [0, 1, 2]


def test_late_work_is_cut_at_its_deadline_and_the_task_goes_on(run: Runner) -> None:
    deadlines = Deadlines(0.05)

    async def main() -> tuple[float, str]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await deadlines.run(asyncio.sleep(10))
        waited = loop.time() - start
        await asyncio.sleep(0.01)  # the cancellation was taken back: the task is not cancelled
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        return waited, await deadlines.run(asyncio.sleep(0, result="later work in time"))

    waited, later = run(main())
    assert 0.04 <= waited < 1.0
    assert later == "later work in time"


def test_each_of_many_overlapping_works_gets_its_own_deadline(run: Runner) -> None:
    deadlines = Deadlines(0.1)

    async def one(delay: float, work: float) -> str:
        await asyncio.sleep(delay)
        try:
            await deadlines.run(asyncio.sleep(work))
        except TimeoutError:
            return "timeout"
        return "done"

    async def main() -> list[str]:
        # started 0, 30, 60 ms apart; each needs 200 ms (late) or 20 ms (in time)
        return await asyncio.gather(*(one(0.03 * (n % 3), 0.2 if n % 2 else 0.02) for n in range(12)))

    assert run(main()) == ["done" if n % 2 == 0 else "timeout" for n in range(12)]


def test_a_cancellation_from_elsewhere_is_not_a_timeout(run: Runner) -> None:
    deadlines = Deadlines(5)

    async def main() -> None:
        task = asyncio.create_task(deadlines.run(asyncio.sleep(10)))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not deadlines._due

    run(main())


def test_a_cancellation_from_elsewhere_as_the_deadline_passes_stays_a_cancellation(run: Runner) -> None:
    deadlines = Deadlines(0)

    async def main() -> None:
        task = asyncio.create_task(deadlines.run(asyncio.sleep(10)))
        await asyncio.sleep(0)  # the task is waiting, its deadline already due
        deadlines._expire()  # what the timer does: cancel it
        task.cancel()  # and before it runs again, someone else cancels it too
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not deadlines._due and not deadlines._expired

    run(main())


def test_a_work_that_swallows_its_cancellation_leaves_the_task_uncancelled(run: Runner) -> None:
    deadlines = Deadlines(0.02)

    async def swallows() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"

    async def main() -> str:
        result = await deadlines.run(swallows())
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0.01)  # not cancelled later either
        return result

    assert run(main()) == "swallowed"


def test_a_new_event_loop_starts_afresh(run: Runner) -> None:
    deadlines = Deadlines(0.05)

    async def late() -> str:
        try:
            await deadlines.run(asyncio.sleep(10))
        except TimeoutError:
            return "timeout"
        return "done"

    async def abandoned() -> None:
        # the loop ends with a work registered and the timer set for that loop
        task = asyncio.create_task(deadlines.run(asyncio.sleep(10)))
        await asyncio.sleep(0.01)
        assert deadlines._due and task

    run(abandoned())
    assert run(late()) == "timeout"
