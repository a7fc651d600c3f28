"""`tailorcard bench new-items`: who the hidden taste says wants a new product, and the command end to end."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lab.new_items_bench import CELL, TASTE, wanted_new_products
from recsys_helpers import attribute_vectors, tiny_products
from service.cli import main

PRODUCTS = tiny_products()


def test_the_hidden_taste_wants_its_gender_types_and_colours_after_any_drift():
    tastes = pd.DataFrame({"user_id": ["u0", "u1"], "gender": ["Women", "Men"],
                           "article_types": ["Shoes|Tshirts", "Watches|Shoes"],
                           "article_types_after_drift": ["Shoes|Tshirts", "Tshirts|Shoes"],
                           "colours": ["Red|Blue", "Black|Red"], "drift_at": [np.inf, 10.0]})
    new = PRODUCTS[(PRODUCTS["usage"] == "Casual") & PRODUCTS["articleType"].isin(["Shoes", "Watches"])]
    def named(wants):
        return {u: sorted(PRODUCTS.loc[list(p), "title"]) for u, p in wants.items()}

    assert named(wanted_new_products(tastes, new, at=20.0, attributes=CELL)) == {
        "u0": ["Women Blue Shoes", "Women Red Shoes"], "u1": ["Men Black Shoes", "Men Red Shoes"]}  # watches: drifted
    assert named(wanted_new_products(tastes, new, at=5.0, attributes=TASTE))["u1"] == [
        "Men Black Shoes", "Men Black Watches", "Men Blue Shoes", "Men Blue Watches", "Men Red Shoes", "Men Red Watches"]


def test_the_command_reports_both_arms_and_ends_with_one_json_line(tmp_path):
    PRODUCTS.reset_index().to_csv(tmp_path / "catalogue.csv", index=False)
    np.savez(tmp_path / "vectors.npz", ids=PRODUCTS.index.to_numpy(), vectors=attribute_vectors(PRODUCTS))
    result = CliRunner().invoke(main, ["bench", "new-items", "--catalogue", str(tmp_path), "--vectors",
                                       str(tmp_path / "vectors.npz"), "--users", "150", "--new-products", "4", "--json"])
    assert result.exit_code == 0, result.output
    assert "SIMULATED behaviour" in result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["simulated"] is True and summary["new_products"] == 4
    without, with_ = summary["without"], summary["with"]
    assert with_["new_share_of_slots"] > without["new_share_of_slots"]
    assert summary["map_relative_loss"]["map"] == pytest.approx(1 - with_["map"] / without["map"], abs=1e-4)
