"""What the cards endpoint needs of experiments, as a narrow Protocol (service.experiments_store follows it)."""
from __future__ import annotations

from typing import Protocol


class Experiments(Protocol):
    def assign(self, user_id: str, segment: int | None = None) -> dict | None:
        """The arm this shopper is in for this request, or None when none applies: {"experiment", "arm",
        "image_policy", "presentation" (a PresentationPolicy dict), "allocation" ("fixed" | "bandit"), "segment"},
        and for a bandit decision "probability", "probabilities" (arm -> probability) and "decided_at".
        Stores nothing: `log_exposures` stores it with the cards served in it."""

    def log_exposures(self, user_id: str, assigned: dict, cards: list[dict]) -> int:
        """Stores the shopper's assignment (fixed: sticky, one already stored is kept; bandit: the decision with
        its probabilities) and one exposure per card served in it (with its image URL), in one transaction:
        both or neither. Returns how many exposures were logged."""

    def list(self) -> list[dict]:
        """Every experiment with its arms and status, for analysts."""
