"""A store's own log -> events by a column mapping (features.event_mapping), on tiny hand-written logs."""
import io
import json

import pandas as pd
import pytest

from features.event_mapping import EventMapping, load_mapping, map_log, map_log_file
from features.events import EventError
from features.ids import product_key

# Online Retail's columns, as published: a basket, a cancellation, postage, a line without a customer,
# the same line twice in one invoice, and a product whose description is once a note
RETAIL_CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850.0,United Kingdom
536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,2010-12-02 09:00:00,2.55,,United Kingdom
536367,71053,WHITE METAL LANTERN,3,2010-12-03 10:00:00,3.39,13047.0,United Kingdom
536367,71053,WHITE METAL LANTERN,3,2010-12-03 10:00:00,3.39,13047.0,United Kingdom
C536368,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,2010-12-04 11:00:00,2.55,17850.0,United Kingdom
536369,85123A,?,1,2010-12-05 12:00:00,2.55,13047.0,United Kingdom
"""


def retail(text: str = RETAIL_CSV) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


@pytest.fixture
def mapped():
    return map_log(retail(), load_mapping("online-retail"))


def test_the_preset_maps_invoice_lines_to_typed_events(mapped):
    events = mapped.events
    assert len(events) == 6 and set(events["user_id"]) == {"17850", "13047"}  # "17850.0" -> "17850"
    first = events.iloc[0]
    assert (first["item_id"], first["session_id"], first["type"]) == (product_key("85123A"), "536365", "purchase")
    assert first["value"] == pytest.approx(6 * 2.55)
    assert first["timestamp"] == pd.Timestamp("2010-12-01 08:26:00").timestamp()


def test_cancelled_invoices_and_negative_quantities_are_returns(mapped):
    returns = mapped.events[mapped.events["type"] == "return"]
    assert returns["session_id"].tolist() == ["C536368"] and returns["value"].iloc[0] == pytest.approx(-2 * 2.55)
    only_negative = map_log(retail(RETAIL_CSV.replace("C536368", "536368")), load_mapping("online-retail"))
    assert (only_negative.events["type"] == "return").sum() == 1


def test_lines_without_a_user_and_non_products_are_kept_aside_with_the_reason(mapped):
    rejects = mapped.rejects.set_index("row")
    assert rejects.loc[3, "problems"].startswith("item: not a product (POST)")
    assert "no user" in rejects.loc[4, "problems"] and rejects.loc[4, "StockCode"] == "85123A"
    assert len(mapped.rejects) + len(mapped.events) == len(retail())


def test_event_ids_come_from_the_line_so_a_reimport_adds_nothing(mapped):
    ids = mapped.events["event_id"].tolist()
    assert "536365:85123A:0" in ids
    assert {"536367:71053:0", "536367:71053:1"} <= set(ids)  # a line twice in one invoice: two events
    again = map_log(retail(), load_mapping("online-retail"))
    assert again.events["event_id"].tolist() == ids
    grown = map_log(pd.concat([retail(), retail().tail(1)], ignore_index=True), load_mapping("online-retail"))
    assert set(ids) < set(grown.events["event_id"])  # a log that grew keeps its old lines' ids


def test_products_are_derived_from_the_log_with_their_commonest_description(mapped):
    products = mapped.products
    assert products["product_id"].tolist() == ["71053", "85123A"]  # POST is not a product
    assert products.loc[product_key("85123A"), "title"] == "WHITE HANGING HEART T-LIGHT HOLDER"  # not "?"


def test_a_json_mapping_file_with_a_type_column(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"who": "u1", "sku": "APL-1", "when": "2024-01-01T10:00:00Z", "what": "seen"},
        {"who": "u1", "sku": "APL-1", "when": "2024-01-02T10:00:00Z", "what": "bought", "qty": 2, "price": 1.5},
        {"who": "u2", "sku": "APL-2", "when": "2024-01-03T10:00:00Z", "what": "teleported"},
    ]))
    spec = tmp_path / "mapping.json"
    spec.write_text(json.dumps({"user": "who", "item": "sku", "time": "when", "value": ["qty", "price"],
                                "type": {"column": "what", "values": {"seen": "view", "bought": "purchase"}}}))
    mapped = map_log_file(log, load_mapping(str(spec)))
    assert mapped.events["type"].tolist() == ["view", "purchase"]
    assert mapped.events["value"].iloc[1] == pytest.approx(3.0)
    assert "unknown type" in mapped.rejects["problems"].iloc[0] and mapped.rejects["row"].tolist() == [3]
    assert mapped.events["event_id"].iloc[0] == "u1:APL-1:2024-01-01T10:00:00Z:0"  # no session: user, item, time


def test_bad_mappings_are_clear_errors(tmp_path):
    with pytest.raises(EventError, match="neither a preset"):
        load_mapping("no-such-preset")
    with pytest.raises(EventError, match="unknown key"):
        EventMapping.from_dict({"user": "a", "item": "b", "time": "c", "colour": "d"})
    with pytest.raises(EventError, match="not an event type"):
        EventMapping.from_dict({"user": "a", "item": "b", "time": "c", "type": "bought"})
    with pytest.raises(EventError, match="lacks column"):
        map_log(retail().drop(columns="CustomerID"), load_mapping("online-retail"))
    with pytest.raises(EventError, match="mapping value is 5; expected a list of texts"):
        EventMapping.from_dict({"user": "a", "item": "b", "time": "c", "value": 5})
    with pytest.raises(EventError, match="mapping item is 3; expected a column name"):
        EventMapping.from_dict({"user": "a", "item": 3, "time": "c"})
    with pytest.raises(EventError, match=r"non_product_pattern '\(\[' is not a regular expression"):
        EventMapping.from_dict({"user": "a", "item": "b", "time": "c", "non_product_pattern": "(["})


def test_a_text_only_catalogue_is_made_from_the_log_and_checks_clean(tmp_path):
    from click.testing import CliRunner

    from features.catalogue import check_catalogue
    from service.cli import main
    log = tmp_path / "orders.csv"
    log.write_text(RETAIL_CSV)
    made = CliRunner().invoke(main, ["catalogue", "from-log", str(log), "--mapping", "online-retail",
                                     "--out", str(tmp_path / "shop")])
    assert made.exit_code == 0, made.output
    assert "wrote" in made.output and "2 text-only products" in made.output and "CC BY 4.0" in made.output
    written = pd.read_csv(tmp_path / "shop" / "catalogue.csv", dtype=str)
    assert written.to_dict("records") == [{"product_id": "71053", "title": "WHITE METAL LANTERN"},
                                          {"product_id": "85123A", "title": "WHITE HANGING HEART T-LIGHT HOLDER"}]
    assert not check_catalogue(tmp_path / "shop" / "catalogue.csv").problems  # postage left out, the note not a title
    again = CliRunner().invoke(main, ["catalogue", "from-log", str(log), "--mapping", "online-retail",
                                      "--out", str(tmp_path / "shop")])
    assert again.exit_code == 2 and "already exists" in again.output  # a store's catalogue is never overwritten
