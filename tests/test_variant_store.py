"""The variant store (content-addressed; a product change makes old variants unreachable) and the demand queue."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from imagegen.presentation import SCENE, PresentationMaker, Presenter
from imagegen.provenance import read_provenance
from imagegen.variants import DemandQueue, VariantError, VariantKey, VariantNotFound, VariantStore, most_demanded
from imagegen.variants.queue import FADED_DEMAND, PRUNE_FROM_PAIRS
from variant_helpers import provenance_record as record


def key(**changes) -> VariantKey:
    return VariantKey(**({"product_hash": "a" * 64, "segment": "1", "generator_version": "g", "params_digest": "p"}
                         | changes))


def test_put_and_get_a_variant_with_its_provenance(tmp_path):
    store = VariantStore(tmp_path)
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    stored = store.put(key(), 15970, image, record())
    assert store.get(key()) == stored == store.find(stored.variant_id)
    assert stored.generated and stored.segment == "1" and stored.product_id == 15970
    assert read_provenance(store.read_bytes(stored.variant_id)).to_dict() == stored.provenance
    assert store.get(key(segment="2")) is None and store.get(key(params_digest="q")) is None


def test_embeddings_put_with_a_variant_are_read_back_and_go_with_it(tmp_path):
    store = VariantStore(tmp_path)
    image = np.zeros((8, 8, 3), np.uint8)
    rows = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    stored = store.put(key(), 3, image, record(), embeddings=rows)
    assert np.array_equal(store.read_embeddings(stored.variant_id), rows)
    assert store.read_embeddings(store.put(key(segment="2"), 3, image, record()).variant_id) is None  # none put
    assert store.read_embeddings("../x") is None
    with pytest.raises(VariantError, match="with a generated image only"):
        store.put(key(segment="3"), 3, None, embeddings=rows)
    with pytest.raises(VariantError, match=r"rows \[k, d\]; got shape \(6,\)"):
        store.put(key(segment="4"), 3, image, record(), embeddings=rows[0])
    store.remove(stored)
    assert store.read_embeddings(stored.variant_id) is None and not list(tmp_path.glob("*/*.npy"))


def test_the_decision_to_serve_the_original_is_cached_without_an_image(tmp_path):
    store = VariantStore(tmp_path)
    stored = store.put(key(), 1, None)
    assert store.get(key()).generated is False and store.get(key()).image_path is None
    with pytest.raises(VariantNotFound, match="no generated variant"):
        store.read_bytes(stored.variant_id)
    with pytest.raises(VariantError, match="both its image and its provenance"):
        store.put(key(), 1, np.zeros((2, 2, 3), np.uint8))


def test_ids_that_are_not_variant_ids_never_reach_the_file_system(tmp_path):
    store = VariantStore(tmp_path / "store")
    (tmp_path / "secret.json").write_text("{}")
    assert store.find("../secret") is None
    with pytest.raises(VariantNotFound):
        store.read_bytes("../../secret")


def test_prune_deletes_variants_of_products_that_changed(tmp_path):
    store = VariantStore(tmp_path)
    store.put(key(), 1, np.zeros((2, 2, 3), np.uint8), record())
    store.put(key(product_hash="b" * 64), 2, None)
    assert store.prune(live_product_hashes=["b" * 64]) == 1
    assert store.get(key()) is None and store.get(key(product_hash="b" * 64)) is not None
    assert not list(tmp_path.glob("*/*.png"))


def put_products(store, product_ids, segments=("1", "2")) -> None:
    """Each product's variants: a generated one for the first segment, the original-photo decision for the rest."""
    for product_id in product_ids:
        for segment in segments:
            generated = segment == segments[0]
            store.put(key(product_hash=f"{product_id:064x}", segment=segment), product_id,
                      np.zeros((2, 2, 3), np.uint8) if generated else None,
                      record(parameters={"policy": SCENE.to_dict()}) if generated else None)


def markers(root, product_id) -> list:
    return sorted(marker.name for marker in (root / "by-product" / str(product_id)).glob("*"))


def test_invalidate_reads_only_the_changed_products_records(tmp_path, monkeypatch):
    store = VariantStore(tmp_path)
    put_products(store, [1, 2, 3])
    maker = PresentationMaker(Presenter(), store)
    own = {stored.variant_id for stored in store.records() if stored.product_id == 2}
    read_text, reads = Path.read_text, []
    monkeypatch.setattr(Path, "read_text", lambda path, *args, **kwargs: reads.append(path) or
                        read_text(path, *args, **kwargs))
    monkeypatch.setattr(VariantStore, "records", lambda self: pytest.fail("invalidate scanned every record"))
    assert maker.invalidate(2) == [("1", SCENE)]
    assert len(own) == 2 and {path.stem for path in reads} == own and {path.suffix for path in reads} == {".json"}
    assert len(reads) == len(own)  # each record read once: removing reuses what records_of read
    monkeypatch.undo()
    assert sorted(stored.product_id for stored in store.records()) == [1, 1, 3, 3] and markers(tmp_path, 2) == []
    assert not list(tmp_path.glob(f"*/{min(own)}.*"))


def test_a_store_written_before_the_index_is_indexed_once(tmp_path, monkeypatch):
    put_products(VariantStore(tmp_path), [1, 2])
    expected = {product_id: [stored.variant_id for stored in VariantStore(tmp_path).records_of(product_id)]
                for product_id in (1, 2)}
    shutil.rmtree(tmp_path / "by-product")  # as a store written before the index existed
    assert [stored.product_id for stored in VariantStore(tmp_path).records_of(1)] == [1, 1]
    assert {product_id: markers(tmp_path, product_id) for product_id in (1, 2)} == expected
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.isalnum()) == ["by-product"]
    monkeypatch.setattr(VariantStore, "records", lambda self: pytest.fail("the index was built again"))
    assert [stored.variant_id for stored in VariantStore(tmp_path).records_of(2)] == expected[2]


def test_a_put_into_a_store_without_index_indexes_its_older_records_first(tmp_path):
    put_products(VariantStore(tmp_path), [1])
    shutil.rmtree(tmp_path / "by-product")
    store = VariantStore(tmp_path)
    put_products(store, [2])  # creates by-product: without the migration, product 1 would have no markers
    assert [stored.product_id for stored in store.records_of(1)] == [1, 1] and len(markers(tmp_path, 2)) == 2


def test_index_markers_without_a_current_record_are_ignored(tmp_path):
    store = VariantStore(tmp_path)
    put_products(store, [1])
    (tmp_path / "by-product" / "1" / ("e" * 64)).touch()  # a crash in put between the marker and the record
    (tmp_path / "by-product" / "1" / "not-a-variant-id").touch()
    store.put(key(product_hash=f"{1:064x}", segment="2"), 2, None)  # product 2 stored the same content since
    assert [stored.segment for stored in store.records_of(1)] == ["1"]
    assert [stored.segment for stored in store.records_of(2)] == ["2"]


def test_remove_and_prune_keep_the_index_consistent(tmp_path):
    store = VariantStore(tmp_path)
    put_products(store, [1, 2])
    first, second = store.records_of(1)
    store.remove(first)
    assert markers(tmp_path, 1) == [second.variant_id] and store.find(first.variant_id) is None
    assert store.prune(live_product_hashes=[f"{2:064x}"]) == 1
    assert markers(tmp_path, 1) == [] and store.records_of(1) == []
    assert markers(tmp_path, 2) == sorted(stored.variant_id for stored in store.records_of(2))
    assert len(markers(tmp_path, 2)) == 2 and not list(tmp_path.glob(f"*/{second.variant_id}.*"))


def test_queue_serves_the_most_demanded_pairs_first_and_waits_for_min_demand():
    queue = DemandQueue(min_demand=2)
    for product_id, segment in [(1, "a"), (2, "a"), (2, "a"), (3, "b"), (3, "b"), (3, "b"), (4, "a")]:
        queue.request(product_id, segment)
    assert queue.take(5) == [(3, "b"), (2, "a")]
    assert queue.take(5) == [] and len(queue) == 2  # seen once each: not yet worth a generation
    assert queue.discard(1) == 1
    assert most_demanded({(9, "x"): 1, (8, "x"): 1}, 1) == [(9, "x")]  # ties: first asked first


def test_queue_with_a_half_life_forgets_old_demand():
    day = 86_400.0
    queue = DemandQueue(min_demand=2, half_life_days=7)
    queue.request(1, "a", at=0)
    queue.request(1, "a", at=14 * day)  # the first request counts 1/4 by now: 1.25 < 2
    assert queue.demand(at=14 * day)[(1, "a")] == pytest.approx(1.25)
    assert queue.take(5, at=14 * day) == []
    queue.request(2, "a", at=14 * day)
    queue.request(2, "a", at=14 * day)
    assert queue.take(5, at=14 * day) == [(2, "a")]
    assert queue.request(1, "a", at=14 * day) is True  # 2.25: recent demand is enough
    assert queue.take(5, at=14 * day) == [(1, "a")]
    queue.request(3, "a", at=0)
    queue.forget(3, "a")
    assert len(queue) == 0
    with pytest.raises(ValueError, match="half_life_days"):
        DemandQueue(min_demand=2, half_life_days=0)


WEEK_LATER = 7 * 86_400.0  # seven half-lives of a day


def ask_old_then_new(queue: DemandQueue) -> None:
    """A popular and a once-seen pair a week ago, then enough new pairs to fill the queue."""
    queue.request("popular", "a", demand=64, at=0)  # 64 / 2**7 = 1/2 a week later: still counts
    queue.request("once", "a", at=0)  # 1 / 2**7 a week later: below FADED_DEMAND
    for product_id in range(PRUNE_FROM_PAIRS):
        queue.request(product_id, "a", at=WEEK_LATER)


def test_queue_drops_pairs_whose_demand_faded_and_keeps_the_rest():
    queue = DemandQueue(min_demand=2, half_life_days=1)
    ask_old_then_new(queue)
    demand = queue.demand(at=WEEK_LATER)
    assert ("once", "a") not in demand and len(queue) == PRUNE_FROM_PAIRS + 1
    assert demand[("popular", "a")] == pytest.approx(0.5) and demand[(0, "a")] == demand[(1023, "a")] == 1
    assert queue.request("once", "a", at=WEEK_LATER) is False  # asked again: from 0, not from 1/128
    assert queue.demand(at=WEEK_LATER)[("once", "a")] == 1 and 1 / 128 < FADED_DEMAND
    assert queue.request(5, "a", at=WEEK_LATER) is True and queue.take(5, at=WEEK_LATER) == [(5, "a")]


def test_queue_without_decay_drops_nothing():
    queue = DemandQueue(min_demand=2, half_life_days=None)
    ask_old_then_new(queue)
    assert len(queue) == PRUNE_FROM_PAIRS + 2 and queue.demand()[("once", "a")] == 1


