"""The worker's in-memory ranking cache: keyed by the database's stamp, bounded, least recently used out."""
import pytest

from lab.load import card_paths
from service.ranking_cache import RankingCache


def test_a_new_stamp_misses_and_the_least_recently_used_goes_first():
    cache = RankingCache(size=2)
    cache.put("ann", 12, "2:5:1", {"cards": ["a"]})
    cache.put("bob", 12, "2:7:1", {"cards": ["b"]})
    assert cache.get("ann", 12, "2:6:1") is None  # ann sent an event since: her old ranking is not served
    assert cache.get("ann", 12, "2:5:1") == {"cards": ["a"]}  # ...and this read makes bob the oldest
    cache.put("cy", 12, "2:1:1", {"cards": ["c"]})
    assert cache.get("bob", 12, "2:7:1") is None and len(cache) == 2
    assert cache.get("ann", 12, "2:5:1") is not None and cache.get("ann", 4, "2:5:1") is None


def test_size_zero_turns_it_off_and_a_negative_size_is_refused():
    off = RankingCache(size=0)
    off.put("ann", 12, "s", {"cards": []})
    assert off.get("ann", 12, "s") is None
    with pytest.raises(ValueError, match="got -1"):
        RankingCache(size=-1)


def test_bench_mix_sends_first_time_shoppers_at_the_asked_share():
    paths, first_visits = card_paths(["u1", "u2"], 400, 0.01)
    assert first_visits == 4 == sum("first-visit" in p for p in paths) == len({p for p in paths if "first" in p})
    assert card_paths(["u1"], 10, 0.0) == (["/v1/users/u1/cards?n=12"] * 10, 0)
