"""Hand-written simulator ground truth over the tiny products: tastes chosen by the test, flat popularity."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.simulator import SimulatorConfig
from features.simulator_truth import PurchaseTruth
from recsys_helpers import tiny_products


def taste(user_id, gender, types, colours, usage, later_types=None, drift_at=np.inf) -> dict:
    """One tastes-table row; `types` and `colours` are '|'-joined, as the simulator writes them."""
    return {"user_id": user_id, "gender": gender, "article_types": types,
            "article_types_after_drift": later_types or types, "colours": colours, "usage": usage,
            "drift_at": drift_at, "simulated": True}


def hand_truth(rows: list[dict], **config) -> PurchaseTruth:
    products = tiny_products()
    return PurchaseTruth(products, pd.DataFrame(rows), pd.Series(1.0, index=products.index), SimulatorConfig(**config))
