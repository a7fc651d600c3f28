"""The variant store (content-addressed; a product change makes old variants unreachable) and the demand queue."""
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imagegen.provenance import read_provenance
from imagegen.variants import (DemandQueue, VariantError, VariantKey, VariantMaker, VariantNotFound, VariantParams,
                               VariantStore, most_demanded)
from imagegen.variants.bench import pair_taste, steady_state_caching, wants_variant
from imagegen.variants.queue import FADED_DEMAND, PRUNE_FROM_PAIRS
from imagegen_helpers import tiny_generator, unit_embeddings
from variant_helpers import StubJudge, provenance_record as record


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
                      np.zeros((2, 2, 3), np.uint8) if generated else None, record() if generated else None)


def markers(root, product_id) -> list:
    return sorted(marker.name for marker in (root / "by-product" / str(product_id)).glob("*"))


def test_invalidate_reads_only_the_changed_products_records(tmp_path, monkeypatch):
    store = VariantStore(tmp_path)
    put_products(store, [1, 2, 3])
    maker = VariantMaker(tiny_generator(), StubJudge("Shirts"), store)
    own = {stored.variant_id for stored in store.records() if stored.product_id == 2}
    read_text, reads = Path.read_text, []
    monkeypatch.setattr(Path, "read_text", lambda path, *args, **kwargs: reads.append(path) or
                        read_text(path, *args, **kwargs))
    monkeypatch.setattr(VariantStore, "records", lambda self: pytest.fail("invalidate scanned every record"))
    assert maker.invalidate(2) == ["1"]
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


def request_for(catalogue, product_id, segment="Blue", article_type="Shirts"):
    return SimpleNamespace(product_id=product_id, content_hash=catalogue.content_hash(product_id), segment=segment,
                           image=catalogue.load_image(product_id), taste=unit_embeddings(1, seed=len(segment))[0],
                           attributes={"articleType": article_type}, colour_photos=[], colour_photo_ids=())


def test_a_product_change_makes_its_variants_unreachable(tmp_path, sample_catalogue):
    product_id = sample_catalogue.ids[0]
    maker = VariantMaker(tiny_generator(), StubJudge("Shirts"), VariantStore(tmp_path / "variants"),
                         params=VariantParams(strength=0.5, candidates=1, min_gain=-2.0))
    before = sample_catalogue.content_hash(product_id)
    assert maker.lookup(product_id, before, "Blue") is None
    made = maker.generate(request_for(sample_catalogue, product_id))
    assert maker.lookup(product_id, before, "Blue") == made == maker.get(made.variant_id)
    assert read_provenance(maker.read_bytes(made.variant_id)).source_product_hash == before

    photo = sample_catalogue.image_path(product_id)
    Image.open(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photo)  # the shop edits the photo
    after = sample_catalogue.content_hash(product_id)
    assert after != before and maker.lookup(product_id, after, "Blue") is None
    assert maker.invalidate(product_id) == ["Blue"]
    with pytest.raises(VariantNotFound):
        maker.get(made.variant_id)
    assert maker.lookup(product_id, before, "Blue") is None  # invalidated: not remembered either


def test_a_known_variant_is_looked_up_without_reading_the_store(tmp_path, sample_catalogue, monkeypatch):
    product_id = sample_catalogue.ids[0]
    maker = VariantMaker(tiny_generator(), StubJudge("Shirts"), VariantStore(tmp_path / "variants"),
                         params=VariantParams(strength=0.5, candidates=1, min_gain=-2.0))
    made = maker.generate(request_for(sample_catalogue, product_id))
    content_hash = sample_catalogue.content_hash(product_id)
    assert maker.lookup(product_id, content_hash, "Blue") == made
    reads = []
    monkeypatch.setattr(maker.store, "get", lambda key: reads.append(key))
    assert maker.lookup(product_id, content_hash, "Blue") == made and reads == []  # the cards path reads no file
    assert maker.lookup(product_id, content_hash, "Red") is None and len(reads) == 1  # unknown pairs still ask


def test_a_decided_fallback_is_looked_up_without_reading_the_store(tmp_path, sample_catalogue, monkeypatch):
    product_id = sample_catalogue.ids[2]
    maker = VariantMaker(tiny_generator(), StubJudge("Shoes"), VariantStore(tmp_path),
                         params=VariantParams(strength=0.5, candidates=1, min_gain=-2.0))
    assert maker.generate(request_for(sample_catalogue, product_id, segment="Red")) is None  # the original stays
    content_hash = sample_catalogue.content_hash(product_id)
    assert maker.lookup(product_id, content_hash, "Red") is None  # reads the decision once
    reads = []
    monkeypatch.setattr(maker.store, "get", lambda key: reads.append(key))
    assert maker.lookup(product_id, content_hash, "Red") is None and reads == []
    maker.invalidate(product_id)
    assert maker.lookup(product_id, content_hash, "Red") is None and len(reads) == 1  # forgotten: asks again


def test_the_maker_gates_on_the_colour_its_request_shows(tmp_path, sample_catalogue):
    product_id = sample_catalogue.ids[0]
    maker = VariantMaker(tiny_generator(), StubJudge("Shirts"), VariantStore(tmp_path),
                         params=VariantParams(strength=0.5, candidates=1, min_gain=-2.0))
    request = request_for(sample_catalogue, product_id)
    assert maker.generate(request) is not None  # no colour photos: no colour gate
    # the wanted colour is the photo's own: no redraw comes closer to it, so the original stays
    own = SimpleNamespace(**{**vars(request), "content_hash": "b" * 64, "colour_photos": [request.image]})
    assert maker.generate(own) is None


def test_generate_caches_the_fallback_decision_and_returns_none(tmp_path, sample_catalogue):
    product_id = sample_catalogue.ids[2]
    maker = VariantMaker(tiny_generator(), StubJudge("Shoes"), VariantStore(tmp_path),
                         params=VariantParams(strength=0.5, candidates=1, min_gain=-2.0))
    assert maker.generate(request_for(sample_catalogue, product_id, segment="Red")) is None
    assert maker.store.get(maker.key(sample_catalogue.content_hash(product_id), "Red")).generated is False
    assert maker.invalidate(product_id) == []  # no segment had a variant; the decision is gone too
    assert not list(tmp_path.glob("*/*.json"))


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


def test_caching_per_segment_serves_new_shoppers_from_the_cache():
    days = np.arange(6)
    cards = pd.DataFrame({"day": days, "user_id": [f"u{d}" for d in days], "product_id": 7, "segment": "Blue"})
    assert steady_state_caching(cards, "segment", min_demand=1) == {"generated_per_1000_cards": 0.0,
                                                                   "cache_hit_rate": 1.0}
    assert steady_state_caching(cards, "user_id", min_demand=1) == {"generated_per_1000_cards": 1000.0,
                                                                   "cache_hit_rate": 0.0}


def test_cards_that_want_no_variant_ask_for_no_generation():
    cards = pd.DataFrame({"day": np.arange(6), "user_id": "u", "product_id": 7, "segment": None})
    assert steady_state_caching(cards, "segment", min_demand=1) == {"generated_per_1000_cards": 0.0,
                                                                   "cache_hit_rate": 0.0}


def test_the_bench_draws_a_pair_toward_the_product_in_its_segments_colour(sample_catalogue):
    ids = np.asarray(sample_catalogue.ids)
    store = SimpleNamespace(ids=ids, vectors=unit_embeddings(len(ids), seed=3))
    products = sample_catalogue.products.loc[ids]
    product_id = int(ids[0])
    kind, own = products.at[product_id, "articleType"], products.at[product_id, "baseColour"]
    other = products.loc[(products["articleType"] == kind) & (products["baseColour"] != own), "baseColour"].iloc[0]
    in_other = ((products["articleType"] == kind) & (products["baseColour"] == other)).to_numpy()
    drawn = pair_taste(sample_catalogue, store, product_id, other, neighbours=1)
    candidates = store.vectors[in_other]
    assert np.allclose(drawn, candidates[np.argmax(candidates @ store.vectors[0])], atol=1e-6)
    cards = pd.DataFrame({"product_id": [product_id] * 4, "segment": [other, own, None, "NoSuchColour"]})
    assert wants_variant(products, cards).tolist() == [True, False, False, False]


def test_the_variants_bench_runs_end_to_end_with_tiny_models(tmp_path, tiny_encoder, sample_catalogue):
    from imagegen.variants.bench import VariantBenchConfig, bench_variants
    config = VariantBenchConfig(shoppers=60, days=21, visits_per_week=4, min_demand=1, products=2, tastes=2)
    params = VariantParams(strength=0.5, candidates=1, min_gain=-2.0, tau=-1.0)  # let candidates pass
    result = bench_variants(sample_catalogue, tiny_encoder, tiny_generator(space_id=tiny_encoder.space_id),
                            params=params, config=config, embeddings_path=tmp_path / "store.npz",
                            grid_path=tmp_path / "grid.png", log=lambda line: None)
    assert result["simulated"] is True and 1 <= result["pairs_personalised"] <= 4
    assert result["cards_measured"] > 0  # learned colours asked for variants of the most shown products
    # the tiny random judge rarely reads a redraw as the catalogue's type: shares over served variants
    # exist exactly when one was served
    served = result["cards_with_variant"] > 0
    for share in ("colour_moved_toward_taste", "colour_moved_toward_random_shopper", "colour_moved_toward_segment",
                  "type_kept"):
        assert (result[share] is not None) == served and (not served or 0.0 <= result[share] <= 1.0), share
    assert result["fallback_rate"] == pytest.approx(1 - result["cards_with_variant"] / result["cards_measured"],
                                                    abs=1e-4)
    assert result["generated_per_1000_cards"] > 0 and Image.open(tmp_path / "grid.png").size[0] == 96 * 3


def test_the_maker_measures_a_segments_colour_once_per_set_of_photos_and_not_without_the_gate(
        tmp_path, sample_catalogue, monkeypatch):
    import imagegen.variants.maker as maker_module
    measured = []
    monkeypatch.setattr(maker_module, "wanted_colour",
                        lambda photos, size: measured.append(len(photos)) or np.array([50.0, 0.0, 0.0]))
    first, second, third = sample_catalogue.ids[:3]
    photos = {"colour_photos": [sample_catalogue.load_image(third)], "colour_photo_ids": (third,)}
    maker = VariantMaker(tiny_generator(), StubJudge("Shirts"), VariantStore(tmp_path / "gated"),
                         params=VariantParams(strength=0.5, candidates=1, min_gain=-2.0))
    for product_id in (first, second):
        maker.generate(SimpleNamespace(**{**vars(request_for(sample_catalogue, product_id)), **photos}))
    assert measured == [1]  # two products of one segment, the same photos: measured once
    maker.generate(SimpleNamespace(**{**vars(request_for(sample_catalogue, third)), **photos,
                                      "colour_photo_ids": (second,)}))
    assert measured == [1, 1]  # other photos: measured again
    ungated = VariantMaker(tiny_generator(), StubJudge("Shirts"), VariantStore(tmp_path / "ungated"),
                           params=VariantParams(strength=0.5, candidates=1, min_gain=-2.0, colour_gate=False))
    ungated.generate(SimpleNamespace(**{**vars(request_for(sample_catalogue, first)), **photos}))
    assert measured == [1, 1]


def test_the_variants_bench_measures_served_variants_when_the_judge_keeps_the_type(
        tmp_path, tiny_encoder, sample_catalogue, monkeypatch):
    # The tiny random judge above seldom serves a variant; this one reads every image as the product's own
    # type, so candidates pass on colour alone and the served-variant shares are computed.
    import imagegen.variants.bench as bench
    from imagegen.variants.judge import ClipJudge

    class TypeKeepingJudge(ClipJudge):
        product_type = None

        def article_types(self, embeddings):
            return np.full(len(embeddings), self.product_type, dtype=object)

    judge = TypeKeepingJudge(tiny_encoder, sample_catalogue.products["articleType"].astype(str))
    real_personalize = bench.personalize

    def personalize_keeping_type(generator, _judge, *args, product_type=None, **kwargs):
        judge.product_type = product_type
        return real_personalize(generator, judge, *args, product_type=product_type, **kwargs)

    monkeypatch.setattr(bench, "personalize", personalize_keeping_type)
    config = bench.VariantBenchConfig(shoppers=60, days=21, visits_per_week=4, min_demand=1, products=2, tastes=2)
    params = VariantParams(strength=0.5, candidates=4, min_gain=-2.0, tau=-1.0)
    result = bench.bench_variants(sample_catalogue, tiny_encoder, tiny_generator(space_id=tiny_encoder.space_id),
                                  params=params, config=config, embeddings_path=tmp_path / "store.npz",
                                  log=lambda line: None)
    assert result["cards_with_variant"] > 0
    assert result["colour_moved_toward_segment"] == 1.0 and result["type_kept"] == 1.0  # the gates' own measures
    assert 0.0 <= result["colour_moved_toward_taste"] <= 1.0
