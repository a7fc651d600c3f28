"""The service's clock: wall time for timestamps, monotonic time for "at most every N seconds" refreshes.

create_app takes one in config (`CLOCK`); the default is the system's. A simulation passes a `ManualClock` so
that every timestamp the service writes (decisions, exposures) and every refresh interval (bandit counts,
popularity) follows simulated time: the same run gives the same numbers on any machine, at any speed.
"""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...  # seconds since the epoch: what timestamps are stored in

    def monotonic(self) -> float: ...  # seconds that only go forward: what refresh intervals are measured in


class SystemClock:
    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


class ManualClock:
    """Simulated time that moves only by `advance`; both readings are that time (for simulations and tests)."""

    def __init__(self, start: float):
        self.now = float(start)

    def time(self) -> float:
        return self.now

    monotonic = time

    def advance(self, seconds: float) -> float:
        if not seconds >= 0:
            raise ValueError(f"a clock only moves forward; got {seconds!r} seconds")
        self.now += float(seconds)
        return self.now
