"""The sign-in brake under attempts that arrive together (issue #15, item 3), on both databases.

Each attempt is counted before its password is checked, in one statement, so however many
arrive at once no more passwords are checked than the brake allows (its free failures plus
the one that sets the lock), the right password right after is refused without a check, and
no count is lost between concurrent transactions (PostgreSQL read-then-write lost them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from cartgroups.service import operators as ops
from cartgroups.service.operators import Locked, Operators, SignedIn
from cartgroups.storage.database import Database
from tests.admin.support import PASSWORD, USERNAME, make_operator

T = TypeVar("T")
T0 = 1_900_000_000.0
WRONG = "wrong password!"
ADDRESS = "10.1.2.3"


class CountingVerifier:
    """Counts the password checks actually made; each takes a while, as scrypt does, so that
    attempts overlap. Only the operator's password is right."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self.gate: threading.Event | None = None  # when set, wrong passwords wait for it

    def __call__(self, password: str, stored: str) -> bool:
        with self._lock:
            self.calls += 1
        if self.gate is not None and password != PASSWORD:
            self.gate.wait(30)
        time.sleep(0.05)
        return password == PASSWORD

    def wait_for(self, calls: int) -> None:
        deadline = time.monotonic() + 30
        while self.calls < calls and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # and let any attempt that is going to be checked reach its check


THREADS = 12  # on 3 Database objects (3 server processes, say), 4 threads each: 24 connections
PROCESSES = 3


class Crowd:
    """THREADS threads that make sign-in attempts at the same moment, each through the
    Operators of the Database object it was given (each thread keeps its own connections)."""

    def __init__(self, url: str, verifier: CountingVerifier) -> None:
        self.dbs = [Database(url) for _ in range(PROCESSES)]
        self.brakes = [Operators(db, clock=lambda: T0, verifier=verifier) for db in self.dbs]
        self.pool = ThreadPoolExecutor(THREADS)
        self._mine = threading.local()
        self._given = 0
        self._lock = threading.Lock()

    def _brake(self) -> Operators:
        brake: Operators | None = getattr(self._mine, "brake", None)
        if brake is None:
            with self._lock:
                brake = self._mine.brake = self.brakes[self._given % PROCESSES]
                self._given += 1
        return brake

    def together(self, work: Callable[[Operators, int], T], rounds: int = 1) -> list[T]:
        """``work(brake, n)`` for n in 0 .. THREADS * rounds - 1, THREADS at a time, each round
        let go at the same moment."""
        start = threading.Barrier(THREADS)

        def run(number: int) -> list[T]:
            start.wait()
            return [work(self._brake(), number + THREADS * r) for r in range(rounds)]

        return [result for results in self.pool.map(run, range(THREADS)) for result in results]

    def close(self) -> None:
        self.pool.shutdown()
        for db in self.dbs:
            db.dispose()


@pytest.fixture
def verifier() -> CountingVerifier:
    return CountingVerifier()


@pytest.fixture
def crowd(empty_database_url: str, verifier: CountingVerifier) -> Iterator[Crowd]:
    found = Crowd(empty_database_url, verifier)
    make_operator(found.dbs[0])
    yield found
    found.close()


@pytest.fixture
def operators(crowd: Crowd) -> Operators:
    return crowd.brakes[0]


def test_concurrent_wrong_passwords_are_checked_no_more_than_the_brake_allows(
    crowd: Crowd, operators: Operators, verifier: CountingVerifier
) -> None:
    free = ops.FREE_FAILURES["user"]
    results = crowd.together(
        lambda brake, _: brake.sign_in(username=USERNAME, password=WRONG, address=ADDRESS), 3
    )
    assert verifier.calls == free + 1
    assert results.count(None) == free
    assert results.count(Locked(2)) == len(results) - free  # the one that set the lock, and the refused
    row = operators.failures(subject="user:alice")
    assert row is not None and row.failures == free + 1 and row.locked_until == T0 + 2


def test_the_right_password_right_after_concurrent_failures_is_refused(
    crowd: Crowd, operators: Operators, verifier: CountingVerifier
) -> None:
    # The wrong passwords are still being checked when the right one arrives.
    free = ops.FREE_FAILURES["user"]
    verifier.gate = threading.Event()
    with ThreadPoolExecutor(1) as side:
        wrong = side.submit(
            crowd.together, lambda brake, _: brake.sign_in(username=USERNAME, password=WRONG, address=ADDRESS)
        )
        verifier.wait_for(free + 1)
        try:
            right = operators.sign_in(username=USERNAME, password=PASSWORD, address=ADDRESS)
        finally:
            verifier.gate.set()
        results = wrong.result()
    assert right == Locked(2)
    assert verifier.calls == free + 1  # the right password was refused without a check
    assert results.count(None) == free
    assert results.count(Locked(2)) == THREADS - free


def test_concurrent_guesses_of_many_usernames_lock_the_address_after_its_allowance(
    crowd: Crowd, operators: Operators, verifier: CountingVerifier
) -> None:
    free = ops.FREE_FAILURES["ip"]
    results = crowd.together(
        lambda brake, n: brake.sign_in(username=f"guess{n}", password=WRONG, address=ADDRESS), 4
    )
    assert verifier.calls == free + 1
    assert results.count(None) == free
    assert results.count(Locked(2)) == len(results) - free
    assert operators.sign_in(username=USERNAME, password=PASSWORD, address=ADDRESS) == Locked(2)
    assert verifier.calls == free + 1


def test_no_count_is_lost_between_concurrent_attempts(
    crowd: Crowd, operators: Operators, verifier: CountingVerifier
) -> None:
    # Fewer than the address may fail freely, each under its own username: every one is checked
    # and counted once, on both counters (PostgreSQL lost increments when they were read, then
    # written).
    count = THREADS
    for _ in range(3):  # a lost increment is a matter of timing: give it several chances
        results = crowd.together(
            lambda brake, n: brake.sign_in(username=f"user{n}", password=WRONG, address=ADDRESS)
        )
        assert results == [None] * count
        row = operators.failures(subject=f"ip:{ADDRESS}")
        assert row is not None and row.failures == count and row.locked_until <= T0
        for n in range(count):
            user = operators.failures(subject=f"user:user{n}")
            assert user is not None and user.failures == 1
        with operators.db.write() as conn:
            conn.execute(ops.op_sql.sa.delete(ops.op_sql.sign_in_failures))
    assert verifier.calls == 3 * count


def test_a_success_takes_its_attempt_back_from_the_address(
    operators: Operators, verifier: CountingVerifier
) -> None:
    free = ops.FREE_FAILURES["ip"]
    for n in range(free):
        assert operators.sign_in(username=f"guess{n}", password=WRONG, address=ADDRESS) is None
    # The next attempt from the address is its last before the lock, and it is the right one.
    assert isinstance(operators.sign_in(username=USERNAME, password=PASSWORD, address=ADDRESS), SignedIn)
    row = operators.failures(subject=f"ip:{ADDRESS}")
    assert row is not None and row.failures == free and row.locked_until <= T0
    assert operators.locked_for(username=USERNAME, address=ADDRESS) <= 0
    assert operators.failures(subject="user:alice") is None
    # A wrong one now is that last attempt, and it sets the lock.
    assert operators.sign_in(username="guess", password=WRONG, address=ADDRESS) == Locked(2)
    assert verifier.calls == free + 2
