import numpy as np
import pytest

from recsys.index import EXACT_UP_TO, ItemIndex, ItemIndexError, choose_factory


def unit_rows(n, dim=8, seed=0):
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


IDS = np.arange(300, dtype=np.int64) * 11 + 5


@pytest.fixture(params=["Flat", "IVF4,Flat", "HNSW8"])
def index(request):
    return ItemIndex.for_items(IDS, unit_rows(len(IDS)), factory=request.param, nprobe=4)


def test_search_returns_product_ids_nearest_first(index):
    vectors = unit_rows(len(IDS))
    scores, ids = index.search(vectors[:5], 3)
    assert ids[:, 0].tolist() == IDS[:5].tolist()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_remove_one_product_without_rebuild(index):
    vectors = unit_rows(len(IDS))
    index.remove([IDS[0]])
    _, ids = index.search(vectors[:1], 10)
    assert IDS[0] not in ids and IDS[0] not in index and len(index) == len(IDS) - 1
    with pytest.raises(ItemIndexError, match=str(IDS[0])):
        index.remove([IDS[0]])


def test_update_replaces_the_vector_and_add_brings_new_products(index):
    target = -unit_rows(len(IDS))[7]
    index.update([IDS[3]], target[None, :])
    index.add([999_999], unit_rows(1, seed=9))
    assert index.search(target[None, :], 1)[1][0, 0] == IDS[3]
    assert index.search(unit_rows(1, seed=9), 1)[1][0, 0] == 999_999
    assert len(index) == len(IDS) + 1
    np.testing.assert_allclose(index.vectors_of([IDS[3]])[0], target, atol=1e-6)


def test_many_removals_compact_and_keep_answers(index):
    vectors = unit_rows(len(IDS))
    index.remove(IDS[:200])
    assert len(index.ids) < len(IDS)  # compacted: tombstones gone from storage
    _, ids = index.search(vectors[250:251], 1)
    assert ids[0, 0] == IDS[250]


def test_bad_shapes_and_factories_are_clear_errors():
    with pytest.raises(ItemIndexError, match=r"expected vectors of shape \(2, 8\)"):
        ItemIndex(8).add([1, 2], unit_rows(2, dim=4))
    with pytest.raises(ItemIndexError, match="more than once"):
        ItemIndex(8).add([1, 1], unit_rows(2))
    with pytest.raises(ItemIndexError, match="factory"):
        ItemIndex(8, factory="NoSuchIndex")
    with pytest.raises(ItemIndexError, match="dim 4"):
        ItemIndex.for_items([1], unit_rows(1)).search(unit_rows(1, dim=4), 1)


def test_factory_is_exact_for_small_catalogues_and_ivf_for_large():
    assert choose_factory(40_000) == "Flat"
    assert choose_factory(EXACT_UP_TO + 1).startswith("IVF")
    assert choose_factory(1_000_000) == "IVF1024,Flat"
