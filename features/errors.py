"""The domain's own exceptions. Callers (CLI, HTTP) map them to messages and status codes."""


class TailorcardError(Exception):
    """Base class of every error tailorcard raises on purpose."""


class CatalogueError(TailorcardError):
    """The catalogue file or its images are not usable. `problems` names each bad row."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        shown = "\n".join(f"  - {p}" for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(message + (f":\n{shown}{more}" if shown else ""))


class ImageError(TailorcardError):
    """An image is missing, unreadable, of an unsupported type or too large."""


class ModelSpecError(TailorcardError):
    """A model spec string is malformed or names weights that are not available here."""


class EmbeddingSpaceMismatch(TailorcardError):
    """Two components disagree about the embedding space they work in."""
