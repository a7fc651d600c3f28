"""Where an embedding store lives: one per encoder space and, when given, per catalogue."""
from pathlib import Path

from features.embedding_store import store_path_for


def test_one_store_per_space_and_catalogue_with_safe_names(tmp_path):
    assert store_path_for(tmp_path, "openclip:ViT-B/32") == tmp_path / "openclip_ViT-B_32.npz"
    small, sample = (store_path_for(tmp_path, "s", tmp_path / name) for name in ("fashion small", "catalogue"))
    assert small == tmp_path / "fashion_small" / "s.npz" and sample == tmp_path / "catalogue" / "s.npz"
    assert store_path_for("runs", "s", Path("data/catalogue/")) == Path("runs/catalogue/s.npz")
