"""The service's clock: the system's by default, a manual one for simulations that only moves forward."""
import time

import pytest

from service.clock import ManualClock, SystemClock


def test_the_system_clock_reads_wall_and_monotonic_time():
    before = time.time()
    assert before <= SystemClock.time() <= time.time() and SystemClock.monotonic() <= time.monotonic()


def test_a_manual_clock_moves_only_when_told_and_only_forward():
    clock = ManualClock(100.0)
    assert clock.time() == clock.monotonic() == 100.0
    assert clock.advance(2.5) == 102.5 and clock.time() == 102.5
    with pytest.raises(ValueError, match="a clock only moves forward; got -1"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="got nan"):
        clock.advance(float("nan"))
    assert clock.time() == 102.5
