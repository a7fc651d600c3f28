"""What every training loop shares: a wall-clock budget, a step limit, periodic checkpoints, resume, a log.

    run = TrainingLoop("unet", checkpoints, minutes=10, logger=logger, hyperparameters={"batch_size": 512})
    run.resume()          # optional: continue from the latest checkpoint
    for step in run:      # stops when the budget or max_steps is spent; checkpoints every ~30 s and at the end
        loss = ...
        run.log(step, loss=loss)

`checkpoints` saves and loads weights and optimiser state together with the loop's progress,
{"step", "seconds", "finished", "extra"}; every model's training passes the one atomic format,
features.checkpoint.CheckpointFolder (the protocol below keeps the loop testable without files).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
from tqdm.auto import tqdm


class CheckpointStore(Protocol):
    location: Path

    def save(self, progress: dict) -> None:
        """Write weights, optimiser state and `progress`; a run killed meanwhile can still resume (each store
        says how whole its checkpoint stays)."""

    def load(self) -> dict | None:
        """Load the latest checkpoint's weights in place and return its progress; None when there is none."""


class TrainingLoop:
    """Iterating yields step indices until the budget is spent; between steps it checkpoints and runs
    what `every` registered; at the end it saves a final checkpoint.

    `budget_spans_sessions`: the budget covers the earlier sessions of a resumed run too (for schedules
    that run on training time); otherwise every session gets the whole budget.
    """

    def __init__(self, name: str, checkpoints: CheckpointStore, minutes: float, *, logger: logging.Logger,
                 max_steps: int | None = None, checkpoint_every_s: float = 30.0, log_every: int = 100,
                 progress: bool = False, budget_spans_sessions: bool = False, hyperparameters: dict | None = None):
        self.name, self.checkpoints, self.logger = name, checkpoints, logger
        self.budget_s = minutes * 60.0
        self.max_steps = max_steps
        self.log_every = log_every
        self.progress = progress
        self.budget_spans_sessions = budget_spans_sessions
        self.hyperparameters = hyperparameters or {}
        self.step = 0
        self.extra_state: dict = {}  # saved with every checkpoint, restored by resume
        self._seconds_before = 0.0  # training time of the sessions before this one
        self._session_start: float | None = None
        self._periodic: list[tuple[float, Callable[[], object]]] = [(checkpoint_every_s, self.save)]

    @property
    def seconds(self) -> float:
        """Training time so far, earlier sessions of a resumed run included."""
        return self._seconds_before + self._session_seconds()

    def _session_seconds(self) -> float:
        return 0.0 if self._session_start is None else time.monotonic() - self._session_start

    def every(self, seconds: float, action: Callable[[], object]) -> None:
        """Also call `action` after a step once `seconds` have passed since the session began or it last ran."""
        self._periodic.append((seconds, action))

    def resume(self) -> bool:
        """Continue from the latest checkpoint, if there is one: weights, optimiser, step, time, extra state."""
        progress = self.checkpoints.load()
        if progress is None:
            self.logger.info(f"{self.name}: nothing to resume in {self.checkpoints.location}; starting fresh")
            return False
        self.step, self._seconds_before = int(progress["step"]), float(progress["seconds"])
        self.extra_state = progress.get("extra", {})
        self.logger.info(f"{self.name}: resumed at step {self.step} ({self._seconds_before:.0f} s trained)")
        return True

    def __iter__(self):
        self._session_start = time.monotonic()
        timers = [_Timer(seconds, action, self._session_start) for seconds, action in self._periodic]
        self._log_start()
        with self._progress_bar() as bar:
            while not self._finished():
                yield self.step
                self.step += 1
                self._show_progress(bar)
                now = time.monotonic()
                for timer in timers:
                    timer.run_if_due(now)
        self._seconds_before, self._session_start = self.seconds, None
        self.save(finished=True)

    def _finished(self) -> bool:
        return self._spent_s() >= self.budget_s or (self.max_steps is not None and self.step >= self.max_steps)

    def _spent_s(self) -> float:
        """The time the budget is measured against."""
        return self.seconds if self.budget_spans_sessions else self._session_seconds()

    def _log_start(self) -> None:
        left_min = max(self.budget_s - self._spent_s(), 0.0) / 60
        self.logger.info(f"{self.name}: training for up to {left_min:.1f} min from step {self.step}")
        if self.hyperparameters:
            self.logger.info(f"{self.name}: hyperparameters {json.dumps(self.hyperparameters, default=str)}")

    def _progress_bar(self) -> tqdm:
        # disable=None: a bar on a terminal only, so logs of background runs stay readable
        return tqdm(total=round(self.budget_s), unit="s", desc=self.name, disable=None if self.progress else True,
                    bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}")

    def _show_progress(self, bar: tqdm) -> None:
        bar.n = min(self._spent_s(), self.budget_s)
        bar.set_postfix_str(f"step {self.step}", refresh=False)
        bar.update(0)

    def log(self, step: int, **losses) -> None:
        """Loss lines every `log_every` steps (reading a GPU value forces a sync, so not every step)."""
        if step % self.log_every == 0:
            values = " ".join(f"{k}={_number(v):.4f}" for k, v in losses.items())
            self.logger.info(f"{self.name} step {step}: {values}")

    def save(self, finished: bool = False) -> None:
        seconds = self.seconds
        self.checkpoints.save({"step": self.step, "seconds": seconds, "finished": finished, "extra": self.extra_state})
        what = "finished" if finished else "checkpoint"
        self.logger.info(f"{self.name}: {what} at step {self.step} ({seconds:.0f} s) -> {self.checkpoints.location}")


class _Timer:
    """Runs `action` when `seconds` have passed since `start` or since it last ran."""

    def __init__(self, seconds: float, action: Callable[[], object], start: float):
        self.seconds, self.action, self.last = seconds, action, start

    def run_if_due(self, now: float) -> None:
        if now - self.last >= self.seconds:
            self.action()
            self.last = now


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision elsewhere (CPU bf16 is slower than fp32 here)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _number(value) -> float:
    return float(value.detach()) if torch.is_tensor(value) else float(value)
