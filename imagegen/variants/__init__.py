"""Made card images on disk and the demand that decides which to make (imagegen.presentation makes them).

    store = VariantStore(root)          # content-addressed PNG + JSON record per (product content, segment, ...)
    queue = DemandQueue(min_demand=2)   # which (product, segment) pairs shoppers keep asking for
"""
from imagegen.variants.errors import VariantError, VariantNotFound
from imagegen.variants.queue import DemandQueue, most_demanded
from imagegen.variants.store import StoredVariant, VariantKey, VariantStore

__all__ = ["DemandQueue", "StoredVariant", "VariantError", "VariantKey", "VariantNotFound",
           "VariantStore", "most_demanded"]
