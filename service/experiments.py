"""What the service needs of experiments (issue 6 of 6), as a narrow Protocol, with a null default."""
from __future__ import annotations

from typing import Protocol


class Experiments(Protocol):
    def assign(self, user_id: str) -> dict | None:
        """The arm this shopper is in ({"experiment", "arm", ...}), or None when no experiment applies."""

    def list(self) -> list[dict]:
        """Every experiment with its arms and status, for analysts."""


class NoExperiments:
    def assign(self, user_id: str) -> dict | None:
        return None

    def list(self) -> list[dict]:
        return []
