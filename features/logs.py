"""The one logging set-up of tailorcard's long jobs (training, embedding): lines to stdout and, when given, a file.

    log = job_logger(run_dir / "train.log")          # "tailorcard.train"; resumed runs append to one file
    log.info("step 100: loss=0.2")
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

JOB_LOGGER = "tailorcard.train"
FORMAT = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")


def job_logger(log_file: Path | None = None, name: str = JOB_LOGGER) -> logging.Logger:
    """`name`'s logger (and its children's) writing to stdout and to `log_file`, each handler added once."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    targets = {getattr(h, "baseFilename", "<stdout>") for h in logger.handlers}
    if "<stdout>" not in targets:
        logger.addHandler(_formatted(logging.StreamHandler(sys.stdout)))
    if log_file is not None and str(Path(log_file).resolve()) not in targets:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        logger.addHandler(_formatted(logging.FileHandler(log_file)))
    return logger


def _formatted(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(FORMAT)
    return handler
