"""Stubs shared by the variant, editing, store and provenance tests."""
import numpy as np

from imagegen.provenance import Provenance
from imagegen_helpers import unit_embeddings


class StubJudge:
    """Every image embeds to `vector`; the photo (the last row judged) is a shirt, redraws are `redraw_type`."""

    space_id = "test"

    def __init__(self, redraw_type: str, vector=None):
        self.redraw_type = redraw_type
        self.vector = unit_embeddings(1, seed=3)[0] if vector is None else vector

    def embed(self, images):
        return np.tile(self.vector, (len(images), 1))

    def article_types(self, embeddings):
        types = np.full(len(embeddings), self.redraw_type, dtype=object)
        types[-1] = "Shirts"
        return types


def provenance_record(**changes) -> Provenance:
    values = dict(ai_generated=True, generator_version="g123", encoder_version="space@abc", seed=7,
                  source_product_hash="f" * 64, segment="3", parameters={"strength": 0.5, "tau": 0.8}, product_id=15970)
    return Provenance(**(values | changes))
