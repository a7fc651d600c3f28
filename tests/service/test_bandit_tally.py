"""SeqTail: reading a log by seq where a lower seq can become visible after a higher one (PostgreSQL commits)."""
import pandas as pd

from service.bandit_tally import COMMIT_LAG_S, SeqTail


def seqs(*numbers) -> pd.DataFrame:
    return pd.DataFrame({"seq": list(numbers), "value": [f"row {n}" for n in numbers]})


def test_a_row_committed_late_below_the_highest_seq_is_read_once():
    tail = SeqTail()
    assert tail.fresh(seqs(1, 2, 4), monotonic=0.0)["seq"].tolist() == [1, 2, 4]
    assert tail.after == 0  # 3 may still be committing: the next read goes back over everything after 0
    assert tail.fresh(seqs(1, 2, 3, 4, 5), monotonic=5.0)["seq"].tolist() == [3, 5]  # the rest were read
    assert tail.fresh(seqs(6), monotonic=COMMIT_LAG_S)["seq"].tolist() == [6]
    assert tail.after == 4  # what was the highest seq COMMIT_LAG_S ago
    assert tail.fresh(seqs(5, 6, 7), monotonic=COMMIT_LAG_S + 1)["seq"].tolist() == [7]


def test_nothing_new_is_nothing_and_keeps_its_place():
    tail = SeqTail()
    tail.fresh(seqs(1, 2), monotonic=0.0)
    assert tail.fresh(seqs(), monotonic=2 * COMMIT_LAG_S).empty and tail.after == 2
