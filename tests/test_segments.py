import numpy as np
import pytest

from recsys.segments import SegmentError, TasteSegments


def clustered(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(8, dtype=np.float32)[:3]
    labels = rng.integers(0, 3, 300)
    return centres[labels] + 0.05 * rng.standard_normal((300, 8)).astype(np.float32), labels


def test_segments_recover_clusters_of_tastes():
    vectors, labels = clustered()
    segments = TasteSegments(k=3, seed=1).fit(vectors)
    found = segments.segments_of(vectors)
    for label in range(3):  # every true cluster maps to exactly one segment
        assert len(set(found[labels == label])) == 1
    assert len(set(found)) == 3
    assert segments.segment_of(vectors[0]) == found[0]
    np.testing.assert_allclose(np.linalg.norm(segments.centroids, axis=1), 1.0, rtol=1e-5)


def test_segments_rebuilt_from_stored_centroids_assign_the_same():
    vectors, _ = clustered()
    segments = TasteSegments(k=3).fit(vectors)
    rebuilt = TasteSegments.from_centroids(segments.centroids * 3.0)  # as read back from a database row
    assert rebuilt.k == 3 and np.allclose(rebuilt.centroids, segments.centroids, atol=1e-6)
    assert np.array_equal(rebuilt.segments_of(vectors), segments.segments_of(vectors))


def test_clear_errors():
    with pytest.raises(SegmentError, match="at least k"):
        TasteSegments(k=10).fit(np.ones((3, 4)))
    with pytest.raises(SegmentError, match="not fitted"):
        TasteSegments().segment_of(np.ones(4))
    with pytest.raises(SegmentError, match="dim 5"):
        TasteSegments(k=3).fit(clustered()[0]).segments_of(np.ones((1, 5)))
