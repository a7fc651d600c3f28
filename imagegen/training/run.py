"""What every training stage shares: a wall-clock budget, periodic checkpoints, resume, a log, a progress bar.

    run = TrainingRun(out_dir / "autoencoder", modules={"movq": movq}, optimizers={"optimizer": opt}, minutes=2)
    for step in run:           # resumes if asked; stops when the budget is spent; checkpoints every ~30 s
        loss = ...
        run.log(step, loss=loss)
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from imagegen.training.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint

LOGGER_NAME = "tailorcard.train"


def training_logger(log_file: Path | None) -> logging.Logger:
    """Log lines go to stdout and, when given, to a file (appended, so resumed runs keep one log)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    targets = {getattr(h, "baseFilename", "<stdout>") for h in logger.handlers}
    if "<stdout>" not in targets:
        logger.addHandler(_with_format(logging.StreamHandler(sys.stdout), formatter))
    if log_file is not None and str(Path(log_file).resolve()) not in targets:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        logger.addHandler(_with_format(logging.FileHandler(log_file), formatter))
    return logger


def _with_format(handler: logging.Handler, formatter: logging.Formatter) -> logging.Handler:
    handler.setFormatter(formatter)
    return handler


class TrainingRun:
    def __init__(self, stage_dir: Path, modules: dict, optimizers: dict, minutes: float, *, resume: bool = False,
                 max_steps: int | None = None, checkpoint_every_s: float = 30.0, log_every: int = 100,
                 progress: bool = True, log_file: Path | None = None):
        self.stage_dir = Path(stage_dir)
        self.modules, self.optimizers = modules, optimizers
        self.budget_s = minutes * 60.0
        self.max_steps = max_steps
        self.checkpoint_every_s = checkpoint_every_s
        self.log_every = log_every
        self.progress = progress
        self.logger = training_logger(log_file)
        self.step = 0
        self.seconds_before = 0.0  # training time of earlier sessions of a resumed run
        self.extra_state: dict = {}
        if resume:
            self._resume()

    @property
    def checkpoint_dir(self) -> Path:
        return self.stage_dir / "checkpoint"

    def _resume(self) -> None:
        found = find_checkpoint(self.checkpoint_dir)
        if found is None:
            self.logger.info(f"{self.stage_dir.name}: nothing to resume in {self.checkpoint_dir}; starting fresh")
            return
        state = load_checkpoint(found, self.modules, self.optimizers)
        self.step, self.seconds_before = int(state["step"]), float(state["seconds"])
        self.extra_state = state.get("extra", {})
        self.logger.info(f"{self.stage_dir.name}: resumed at step {self.step} ({self.seconds_before:.0f} s trained)")

    def __iter__(self):
        start = last_save = time.monotonic()
        name = self.stage_dir.name
        self.logger.info(f"{name}: training for up to {self.budget_s / 60:.1f} min from step {self.step}")
        # disable=None: a bar on a terminal only, so logs of background runs stay readable
        with tqdm(total=round(self.budget_s), unit="s", desc=name, disable=None if self.progress else True,
                  bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}") as bar:
            while not self._done(time.monotonic() - start):
                yield self.step
                self.step += 1
                now = time.monotonic()
                bar.n = min(now - start, self.budget_s)
                bar.set_postfix_str(f"step {self.step}", refresh=False)
                bar.update(0)
                if now - last_save >= self.checkpoint_every_s:
                    self.save(now - start)
                    last_save = now
        self.save(time.monotonic() - start, finished=True)

    def _done(self, elapsed: float) -> bool:
        return elapsed >= self.budget_s or (self.max_steps is not None and self.step >= self.max_steps)

    def log(self, step: int, **losses) -> None:
        """Loss lines every `log_every` steps (reading a GPU value forces a sync, so not every step)."""
        if step % self.log_every == 0:
            values = " ".join(f"{k}={_number(v):.4f}" for k, v in losses.items())
            self.logger.info(f"{self.stage_dir.name} step {step}: {values}")

    def save(self, session_seconds: float, finished: bool = False) -> None:
        seconds = self.seconds_before + session_seconds
        state = {"step": self.step, "seconds": round(seconds, 1), "finished": finished, "extra": self.extra_state}
        save_checkpoint(self.checkpoint_dir, self.modules, self.optimizers, state)
        what = "finished" if finished else "checkpoint"
        self.logger.info(f"{self.stage_dir.name}: {what} at step {self.step} ({seconds:.0f} s) -> {self.checkpoint_dir}")


def prepare_device(device: str | torch.device, seed: int) -> torch.device:
    """Seed, and let cuDNN pick the fastest kernels (every step has the same shapes)."""
    device = torch.device(device)
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    return device


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision elsewhere (CPU bf16 is slower than fp32 here)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _number(value) -> float:
    return float(value.detach()) if torch.is_tensor(value) else float(value)
