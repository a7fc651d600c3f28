import numpy as np
import pandas as pd

from recsys.explain import explain_items


def test_a_lone_weak_pull_keeps_its_share_but_says_how_alike_it_is():
    """A search that matches nothing well still has all of the taste's pull: the similarity tells a page not to
    say "because you searched" for it."""
    history = pd.DataFrame({"item_id": [-1], "query": ["red apple"], "weight": [2.0], "source_row": [0]})
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    items = np.array([[1.0, 0.0], [0.1, np.sqrt(0.99)]], dtype=np.float32)
    close, far = explain_items(history, query, items, temperature=0.05)
    assert close[0]["share"] == far[0]["share"] == 1.0
    assert close[0]["similarity"] == 1.0 and far[0]["similarity"] == 0.1 and far[0]["query"] == "red apple"
