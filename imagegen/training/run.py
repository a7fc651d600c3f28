"""A generator stage's training run: features' TrainingLoop with checkpoint folders and a log file.

    run = TrainingRun(out_dir / "autoencoder", modules={"movq": movq}, optimizers={"optimizer": opt}, minutes=2)
    for step in run:           # resumes if asked; stops when the budget is spent; checkpoints every ~30 s
        loss = ...
        run.log(step, loss=loss)
"""
from __future__ import annotations

from pathlib import Path

import torch

from features.logs import job_logger
from features.training_loop import TrainingLoop
from features.checkpoint import CheckpointFolder

class TrainingRun(TrainingLoop):
    """A generator stage's TrainingLoop: checkpoints in stage_dir/checkpoint, log lines to stdout and log_file.

    Every session gets the whole budget. `loop_options` are TrainingLoop's (max_steps, checkpoint_every_s,
    log_every, hyperparameters); the optimizers' settings are logged with the hyperparameters.
    """

    def __init__(self, stage_dir: Path, modules: dict, optimizers: dict, minutes: float, *, resume: bool = False,
                 progress: bool = True, log_file: Path | None = None, hyperparameters: dict | None = None,
                 **loop_options):
        stage_dir = Path(stage_dir)
        super().__init__(stage_dir.name, CheckpointFolder(stage_dir / "checkpoint", modules, optimizers), minutes,
                         logger=job_logger(log_file), progress=progress,
                         hyperparameters={**(hyperparameters or {}), **optimizer_settings(optimizers)}, **loop_options)
        if resume:
            self.resume()


def optimizer_settings(optimizers: dict) -> dict:
    """Each optimizer's base learning rate, betas and weight decay, by name."""
    return {name: {key: optimizer.defaults[key] for key in ("lr", "betas", "weight_decay") if key in optimizer.defaults}
            for name, optimizer in optimizers.items()}


def prepare_device(device: str | torch.device, seed: int) -> torch.device:
    """Seed, and let cuDNN pick the fastest kernels (every step has the same shapes)."""
    device = torch.device(device)
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    return device
