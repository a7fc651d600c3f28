import json

import pandas as pd
import pytest

from features.events import EventError, NO_ITEM, load_events, validate_events

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
    ({"item_id": "abc"}, "item_id"),
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
