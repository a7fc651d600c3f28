"""A provenance record shared by the store and provenance tests."""
from imagegen.provenance import Provenance


def provenance_record(**changes) -> Provenance:
    values = dict(ai_generated=True, generator_version="g123", encoder_version="space@abc", seed=7,
                  source_product_hash="f" * 64, segment="3", parameters={"strength": 0.5, "tau": 0.8}, product_id=15970)
    return Provenance(**(values | changes))
