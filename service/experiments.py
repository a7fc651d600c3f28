"""What the cards endpoint needs of experiments, as a narrow Protocol (service.experiments_store follows it)."""
from __future__ import annotations

from typing import Protocol


class Experiments(Protocol):
    def assign(self, user_id: str, segment: int | None = None) -> dict | None:
        """The arm this shopper is in ({"experiment", "arm", "image_policy", ...}), or None when none applies."""

    def log_exposures(self, user_id: str, assigned: dict, cards: list[dict]) -> int:
        """One exposure per card served to a shopper in an arm; returns how many were logged."""

    def list(self) -> list[dict]:
        """Every experiment with its arms and status, for analysts."""
