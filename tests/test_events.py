import json

import pandas as pd
import pytest

from features.events import EventError, NO_ITEM, load_events, split_usable, validate_events
from features.ids import is_id, product_key

GOOD = {"event_id": "e1", "user_id": "u1", "item_id": "100", "type": "view", "timestamp": "2024-01-01T10:00:00Z"}


def frame(*changes: dict) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, "event_id": f"e{i}", **c} for i, c in enumerate(changes)])


def test_good_rows_are_typed_and_sorted_by_time():
    log = validate_events(frame({"timestamp": "1704103200"}, {"timestamp": "2024-01-01T09:00:00+00:00"}))
    assert log.rejects.empty
    assert log.events["timestamp"].tolist() == [1704099600.0, 1704103200.0]
    assert log.events["item_id"].dtype == "int64"


@pytest.mark.parametrize("change, field", [
    ({"type": "lick"}, "type"),
    ({"user_id": ""}, "user_id"),
    ({"event_id": ""}, "event_id"),
    ({"item_id": ""}, "item_id"),
    ({"item_id": "a/b"}, "item_id"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"timestamp": "2024-13-45"}, "timestamp"),
    ({"value": "lots"}, "value"),
])
def test_each_bad_row_is_kept_aside_naming_row_and_field(change, field):
    log = validate_events(frame({}, change))
    assert len(log.events) == 1
    assert log.rejects["row"].tolist() == [2]
    assert log.rejects["problems"].iloc[0].startswith(f"{field}:")


def test_unknown_item_is_rejected_only_when_the_catalogue_is_given():
    assert validate_events(frame({"item_id": "999"})).rejects.empty
    log = validate_events(frame({"item_id": "999"}, {}), known_items=[100])
    assert "unknown item" in log.rejects["problems"].iloc[0]
    assert len(log.events) == 1


def test_every_problem_of_a_row_is_listed():
    log = validate_events(frame({"type": "lick", "timestamp": "never"}))
    assert "type:" in log.rejects["problems"].iloc[0] and "timestamp:" in log.rejects["problems"].iloc[0]


def test_duplicate_event_ids_count_once():
    log = validate_events(pd.DataFrame([GOOD, GOOD, {**GOOD, "event_id": "e2"}]))
    assert log.events["event_id"].tolist() == ["e1", "e2"]
    assert log.duplicates == 1


def test_search_event_needs_no_item_and_session_only_user_gets_a_key():
    log = validate_events(frame({"item_id": "", "query": "red shoes", "user_id": "", "session_id": "s9"}))
    event = log.events.iloc[0]
    assert log.rejects.empty
    assert (event["item_id"], event["query"], event["user_id"]) == (NO_ITEM, "red shoes", "session:s9")


def test_missing_column_is_an_error_naming_it():
    with pytest.raises(EventError, match="timestamp"):
        validate_events(pd.DataFrame([{k: v for k, v in GOOD.items() if k != "timestamp"}]))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_files_load_and_rejects_are_written(tmp_path, suffix):
    table = frame({}, {"type": "lick"})
    path = tmp_path / f"events{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in table.to_dict("records")))
    else:
        table.to_parquet(path)
    log = load_events(path, rejects_path=tmp_path / "rejects.csv")
    assert len(log.events) == 1
    assert pd.read_csv(tmp_path / "rejects.csv")["type"].tolist() == ["lick"]


def test_unreadable_file_types_are_refused(tmp_path):
    (tmp_path / "events.xml").write_text("<x/>")
    with pytest.raises(EventError, match="unsupported"):
        load_events(tmp_path / "events.xml")


@pytest.mark.parametrize("change, field", [
    ({"timestamp": "9999-12-31T00:00:00Z"}, "timestamp"),  # parsed (it overflowed pandas' nanoseconds), then refused
    ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp"),
    ({"timestamp": -1e12}, "timestamp"),
    ({"timestamp": 1e308}, "timestamp"),
    ({"timestamp": float("inf")}, "timestamp"),
    ({"timestamp": "Infinity"}, "timestamp"),
    ({"value": "-Infinity"}, "value"),
    ({"value": 1e10}, "value"),
    ({"value": "NaN"}, "value"),
    ({"event_id": "e" * 10_000}, "event_id"),
    ({"query": "q" * 1_000_001, "item_id": ""}, "query"),
    ({"user_id": "../../etc/passwd"}, "user_id"),
    ({"user_id": "u\x00"}, "user_id"),
    ({"user_id": "\u202eu1"}, "user_id"),
    ({"user_id": "<script>"}, "user_id"),
    ({"user_id": "\U0001f600"}, "user_id"),
    ({"user_id": "u" * 129}, "user_id"),
    ({"user_id": True}, "user_id"),
    ({"user_id": "", "session_id": "s" * 121}, "user_id"),
    ({"item_id": True}, "item_id"),
    ({"item_id": 1.5}, "item_id"),
])
def test_values_out_of_bounds_are_refused_not_stored(change, field):
    log = validate_events(pd.DataFrame([{**GOOD, **change}], dtype=object))
    assert log.events.empty
    assert log.rejects["problems"].iloc[0].startswith(f"{field}:")


def test_a_huge_value_is_quoted_cut_short():
    log = validate_events(frame({"event_id": "e" * 10_000}))
    assert len(log.rejects["problems"].iloc[0]) < 400


def test_item_ids_are_product_ids_as_text_or_whole_numbers():
    log = validate_events(pd.DataFrame([{**GOOD, "event_id": "a", "item_id": 100},
                                        {**GOOD, "event_id": "b", "item_id": 100.0},
                                        {**GOOD, "event_id": "c", "item_id": " 100 "},
                                        {**GOOD, "event_id": "d", "item_id": "APL-001"}], dtype=object))
    assert log.rejects["row"].tolist() == [3]  # " 100 " could not be asked for again as it was sent
    assert log.events["item_id"].tolist() == [100, 100, product_key("APL-001")]
    assert log.events["item_id"].dtype == "int64"


def test_the_longest_session_makes_a_servable_anonymous_user():
    log = validate_events(frame({"user_id": "", "session_id": "s" * 120}))
    assert is_id(log.events["user_id"].iloc[0])


def test_stored_events_that_would_break_a_vector_are_split_off_with_a_reason():
    stored = pd.DataFrame({"seq": [1, 2, 3, 4], "timestamp": [1.7e9, float("inf"), 1.7e9, 1.7e9],
                           "value": [None, None, float("-inf"), 2.0], "type": ["view", "view", "view", "lick"]})
    usable, skipped = split_usable(stored)
    assert usable["seq"].tolist() == [1]
    assert skipped["seq"].tolist() == [2, 3, 4]
    assert skipped["problem"].str.contains("timestamp|value|type").all()


def test_text_ids_in_a_nullable_string_column_stay_ids():
    """A log read as pandas' nullable strings: "85123A" is not a number, so it is not NO_ITEM either."""
    table = frame({"item_id": "85123A"}, {"item_id": "-1", "query": "mug"}).astype({"item_id": "string"})
    log = validate_events(table)
    assert log.rejects.empty
    assert log.events["item_id"].tolist() == [product_key("85123A"), NO_ITEM]
