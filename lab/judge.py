"""What the fidelity gate asks of an image: its embedding, and the article type a zero-shot classifier sees.

The gate only needs the `Judge` protocol, so a unit test can pass a stub; `ClipJudge` is the real one:
the encoder the generator is conditioned on, with a prompt classifier over the catalogue's article types.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
from PIL import Image

from features.encoder.evaluation import prompt_classifier
from features.prompts import article_prompts


class Judge(Protocol):
    space_id: str  # the embedding space of `embed` (must be the generator's)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Unit vectors [n, d]."""

    def article_types(self, embeddings: np.ndarray) -> np.ndarray:
        """One article type label per embedding row."""


class ClipJudge:
    def __init__(self, encoder, article_types: Sequence[str]):
        self.encoder = encoder
        self.labels = np.asarray(sorted(set(map(str, article_types))))
        # built once: prompt ensembling over every label costs a text-encoder pass
        self.classifier = prompt_classifier(list(self.labels), article_prompts,
                                            lambda texts: encoder.encode_texts(texts, progress=False))

    @property
    def space_id(self) -> str:
        return self.encoder.space_id

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encoder.encode_images(list(images), progress=False)

    def article_types(self, embeddings: np.ndarray) -> np.ndarray:
        return self.labels[np.argmax(np.asarray(embeddings) @ self.classifier.T, axis=1)]
