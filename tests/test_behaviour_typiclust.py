"""TypiClust's choices, rule by rule, against a brute-force reference written here.

Most tests fix the k-means labels (``kmeans_labels`` monkeypatched) to isolate the
selection logic: which cluster first (fewest labeled, then largest, then id), which
point inside (highest typicality), the small-cluster rule, cycling and K. One test
keeps real k-means on well-separated blobs, and one compares with scikit-activeml's
TypiClust where both must agree.
"""

import numpy as np
import pytest

from subsel_plugins import TypiClustQuery
from subsel_plugins.strategies import _typiclust


def unit(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def ref_typicality(F, k):
    """1 / (mean squared distance to the k nearest other rows + 1e-5), k capped at m - 1."""
    m = F.shape[0]
    k = min(k, m - 1)
    if k < 1:
        return np.ones(m)
    D2 = ((F[:, None, :] - F[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D2, np.inf)
    return 1.0 / (np.sort(D2, axis=1)[:, :k].mean(axis=1) + 1e-5)


def ref_typiclust(X, budget, labels, labeled=(), k_neighbors=20, min_cluster_size=5):
    """TypiClust's selection given cluster labels, written as plainly as possible."""
    F = unit(X)
    labels = np.asarray(labels)
    labeled = list(labeled)
    n_c = labels.max() + 1
    sizes = np.bincount(labels, minlength=n_c)
    lab_counts = np.bincount(labels[labeled], minlength=n_c) if labeled else np.zeros(n_c, int)
    ids = [c for c in range(n_c) if sizes[c] > min_cluster_size]
    if not ids:
        ids = [c for c in range(n_c) if sizes[c] > 0]
    order = sorted(ids, key=lambda c: (lab_counts[c], -sizes[c], c))
    free = set(range(len(labels))) - set(labeled)
    chosen, scores, step = [], [], 0
    while len(chosen) < budget:
        c = order[step % len(order)]
        step += 1
        members = sorted(i for i in free if labels[i] == c)
        if not members:
            if not any(labels[i] in order for i in free):
                order = sorted({int(labels[i]) for i in free})
            continue
        typ = ref_typicality(F[members], min(k_neighbors, len(members) // 2))
        best = int(np.argmax(typ))
        chosen.append(members[best])
        scores.append(typ[best])
        free.discard(members[best])
    return chosen, scores


@pytest.fixture
def fixed_labels(monkeypatch):
    """Make TypiClust's k-means return given labels; record the K it asked for."""
    state = {"labels": None, "k": []}

    def fake(F, n_clusters, seed):
        state["k"].append(n_clusters)
        assert F.shape[0] == len(state["labels"])
        assert state["labels"].max() < n_clusters  # as k-means would
        return np.asarray(state["labels"])

    monkeypatch.setattr(_typiclust, "kmeans_labels", fake)

    def set_labels(labels):
        state["labels"] = np.asarray(labels)
        return state

    return set_labels


def labels_of_sizes(sizes, rng=None):
    """Cluster labels with the given sizes, rows of the clusters interleaved at random."""
    labels = np.repeat(np.arange(len(sizes)), sizes)
    if rng is not None:
        labels = rng.permutation(labels)
    return labels


def points(n, rng, d=3):
    return rng.normal(size=(n, d)) + np.array([4.0] + [0.0] * (d - 1))


def cluster_of(labels, idx):
    return [int(labels[i]) for i in idx]


# --- which cluster first --------------------------------------------------------------


def test_largest_cluster_first(fixed_labels):
    rng = np.random.default_rng(0)
    labels = labels_of_sizes([7, 12, 9], rng)
    fixed_labels(labels)
    X = points(labels.size, rng)
    idx = TypiClustQuery(random_state=0).select(X, 3)
    assert cluster_of(labels, idx) == [1, 2, 0]


def test_equal_sizes_go_by_cluster_id(fixed_labels):
    rng = np.random.default_rng(1)
    labels = labels_of_sizes([8, 8, 8], rng)
    fixed_labels(labels)
    idx = TypiClustQuery(random_state=0).select(points(labels.size, rng), 3)
    assert cluster_of(labels, idx) == [0, 1, 2]


def test_fewest_labeled_first_then_largest(fixed_labels):
    rng = np.random.default_rng(2)
    labels = labels_of_sizes([10, 14, 8, 6])
    fixed_labels(labels)
    # cluster 1 (largest) holds two labeled rows, cluster 0 one, clusters 2 and 3 none
    labeled = [10, 11, 0]
    idx = TypiClustQuery(random_state=0).select(points(labels.size, rng), 4, labeled=labeled)
    assert cluster_of(labels, idx) == [2, 3, 0, 1]


def test_labeled_rows_are_counted_per_cluster(fixed_labels):
    """A labeled row in the largest cluster sends that cluster to the back."""
    rng = np.random.default_rng(3)
    labels = labels_of_sizes([6, 15, 9])
    fixed_labels(labels)
    X = points(labels.size, rng)
    q = TypiClustQuery(random_state=0)
    assert cluster_of(labels, q.select(X, 3)) == [1, 2, 0]
    assert cluster_of(labels, q.select(X, 3, labeled=[6])) == [2, 0, 1]


# --- which point inside ---------------------------------------------------------------


def test_most_typical_point_of_a_hand_built_cluster(fixed_labels):
    """Angles on the unit circle: the middle of the dense run is the most typical."""
    angles = np.array([0.0, 0.02, 0.04, 0.06, 0.08, 0.30, 0.60, 0.95])
    X = np.c_[np.cos(angles), np.sin(angles)]
    fixed_labels(np.zeros(len(X), int))
    idx, scores = TypiClustQuery(k_neighbors=4).select_with_scores(X, 1)
    assert idx.tolist() == [2]
    assert scores[0] == pytest.approx(ref_typicality(unit(X), 4)[2], rel=1e-4)
    # and the least typical point (0.95, far out) is never the first pick
    assert idx[0] != 7


def test_typicality_uses_k_nearest_with_k_capped_at_half_the_cluster(fixed_labels):
    """k = min(k_neighbors, size // 2): k_neighbors=1 and the cap give different points."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(9, 2)) * [1.0, 0.3] + [5.0, 0.0]
    fixed_labels(np.zeros(9, int))
    F = unit(X)
    by_k = {k: int(np.argmax(ref_typicality(F, k))) for k in range(1, 9)}
    # the data has power: k=1, k=4 (= 9 // 2) and k=8 (no cap) all disagree
    assert len({by_k[1], by_k[4], by_k[8]}) == 3, by_k
    assert TypiClustQuery(k_neighbors=1).select(X, 1).tolist() == [by_k[1]]
    assert TypiClustQuery(k_neighbors=3).select(X, 1).tolist() == [by_k[3]]
    assert TypiClustQuery(k_neighbors=20).select(X, 1).tolist() == [by_k[4]]


def test_features_are_l2_normalized(fixed_labels):
    """Scaling a row does not change the pick: typicality is computed on unit vectors."""
    rng = np.random.default_rng(5)
    X = points(10, rng)
    fixed_labels(np.zeros(10, int))
    first = TypiClustQuery(k_neighbors=3).select(X, 3).tolist()
    X2 = X * rng.uniform(0.1, 10.0, size=(10, 1))
    assert TypiClustQuery(k_neighbors=3).select(X2, 3).tolist() == first
    assert first == ref_typiclust(X, 3, np.zeros(10, int), k_neighbors=3)[0]


# --- small clusters, cycling, exhaustion ------------------------------------------------


def test_clusters_at_or_below_min_cluster_size_are_skipped(fixed_labels):
    rng = np.random.default_rng(6)
    labels = labels_of_sizes([5, 9, 4, 6])
    fixed_labels(labels)
    X = points(labels.size, rng)
    idx = TypiClustQuery(min_cluster_size=5).select(X, 4)
    # only clusters 1 (9) and 3 (6) are visited, alternately
    assert cluster_of(labels, idx) == [1, 3, 1, 3]
    idx = TypiClustQuery(min_cluster_size=4).select(X, 4)
    assert cluster_of(labels, idx) == [1, 3, 0, 1]


def test_all_clusters_small_keeps_them_all(fixed_labels):
    rng = np.random.default_rng(7)
    labels = labels_of_sizes([2, 3])
    fixed_labels(labels)
    idx = TypiClustQuery(min_cluster_size=5).select(points(5, rng), 4)
    assert cluster_of(labels, idx) == [1, 0, 1, 0]


def test_visited_clusters_used_up_then_the_small_ones(fixed_labels):
    rng = np.random.default_rng(8)
    labels = labels_of_sizes([2, 6, 1], rng)
    fixed_labels(labels)
    X = points(labels.size, rng)
    idx = TypiClustQuery(min_cluster_size=5).select(X, 9)
    assert cluster_of(labels, idx[:6]) == [1] * 6
    assert sorted(cluster_of(labels, idx[6:])) == [0, 0, 2]
    assert idx.tolist() == ref_typiclust(X, 9, labels, min_cluster_size=5)[0]


def test_budget_above_clusters_cycles_in_the_same_order(fixed_labels):
    rng = np.random.default_rng(9)
    labels = labels_of_sizes([10, 13, 8], rng)
    fixed_labels(labels)
    X = points(labels.size, rng)
    idx = TypiClustQuery(k_neighbors=3).select(X, 7, labeled=[int(np.flatnonzero(labels == 1)[0])])
    assert cluster_of(labels, idx) == [0, 2, 1, 0, 2, 1, 0]
    # each later pick is the most typical among the cluster's remaining rows
    ref = ref_typiclust(X, 7, labels, labeled=[int(np.flatnonzero(labels == 1)[0])], k_neighbors=3)
    assert idx.tolist() == ref[0]


@pytest.mark.parametrize("seed", range(12))
def test_matches_the_reference_on_random_clusterings(fixed_labels, seed):
    rng = np.random.default_rng(100 + seed)
    n_c = int(rng.integers(1, 6))
    sizes = rng.integers(1, 14, size=n_c)
    labels = labels_of_sizes(sizes, rng)
    fixed_labels(labels)
    n = labels.size
    X = points(n, rng, d=int(rng.integers(2, 5)))
    n_lab = int(rng.integers(0, max(1, n // 3)))
    labeled = rng.choice(n, size=n_lab, replace=False).tolist()
    budget = int(rng.integers(max(1, n_c - n_lab), n - n_lab + 1))
    kw = dict(k_neighbors=int(rng.integers(1, 8)), min_cluster_size=int(rng.integers(0, 7)))
    idx, scores = TypiClustQuery(**kw).select_with_scores(X, budget, labeled=labeled or None)
    ref_idx, ref_scores = ref_typiclust(X, budget, labels, labeled, **kw)
    assert idx.tolist() == ref_idx
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-3)


# --- K ---------------------------------------------------------------------------------


def test_number_of_clusters_is_labeled_plus_budget_capped(fixed_labels):
    rng = np.random.default_rng(10)
    state = fixed_labels(labels_of_sizes([10, 10, 10]))
    X = points(30, rng)
    TypiClustQuery().select(X, 4)
    TypiClustQuery().select(X, 4, labeled=[0, 1, 2])
    TypiClustQuery(max_clusters=5).select(X, 4, labeled=[0, 1, 2])
    TypiClustQuery(max_clusters=7).select(X, 4, labeled=[0, 1, 2])
    TypiClustQuery().select(X, 20, labeled=list(range(10)))
    assert state["k"] == [4, 7, 5, 7, 30]


# --- real k-means ---------------------------------------------------------------------


def blobs(sizes, seed, spread=0.05):
    """Well-separated blobs around orthogonal directions, each with an exact centre row first."""
    rng = np.random.default_rng(seed)
    d = len(sizes) + 1
    rows, labels = [], []
    for c, m in enumerate(sizes):
        centre = np.eye(d)[c] * 3 + np.eye(d)[-1]
        rows.append(centre + np.r_[[np.zeros(d)], rng.normal(size=(m - 1, d)) * spread])
        labels += [c] * m
    perm = rng.permutation(sum(sizes))
    return np.vstack(rows)[perm], np.asarray(labels)[perm]


def test_real_kmeans_on_separated_blobs():
    X, labels = blobs([12, 9, 7, 15], seed=0)
    idx, scores = TypiClustQuery(k_neighbors=5, random_state=0).select_with_scores(X, 4)
    assert cluster_of(labels, idx) == [3, 0, 1, 2]
    ref_idx, ref_scores = ref_typiclust(X, 4, labels, k_neighbors=5)
    assert idx.tolist() == ref_idx
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-3)
    # with a labeled row in the largest blob, that blob comes last
    lab = [int(np.flatnonzero(labels == 3)[0])]
    idx = TypiClustQuery(k_neighbors=5, random_state=0).select(X, 3, labeled=lab)
    assert cluster_of(labels, idx) == [0, 1, 2]
    assert idx.tolist() == ref_typiclust(X, 3, labels, lab, k_neighbors=5)[0]


def test_agrees_with_scikit_activeml_typiclust_on_separated_blobs():
    """Same clusters, same order (largest uncovered first), same most-typical rows.

    scikit-activeml ranks by mean distance over its k nearest, we by mean squared
    distance (as the official code); on tight, separated blobs both pick the same rows.
    """
    pytest.importorskip("skactiveml")
    from skactiveml.pool import TypiClust
    from skactiveml.utils import MISSING_LABEL

    X, labels = blobs([12, 9, 7, 15, 10], seed=1)
    F = unit(X)
    lab = [int(np.flatnonzero(labels == 4)[0])]
    y = np.full(len(F), MISSING_LABEL)
    y[lab] = 0
    theirs = TypiClust(random_state=0, k=5).query(F, y, batch_size=4)
    ours = TypiClustQuery(k_neighbors=5, random_state=0).select(F, 4, labeled=lab)
    assert ours.tolist() == theirs.tolist()
    assert cluster_of(labels, ours) == [3, 0, 1, 2]


def test_kmeans_follows_random_state():
    """On unclustered noise k-means depends on its seed: the same seed, the same picks."""
    X = np.random.default_rng(0).normal(size=(60, 4))
    a = TypiClustQuery(random_state=1).select(X, 6)
    assert TypiClustQuery(random_state=1).select(X, 6).tolist() == a.tolist()
    assert any(TypiClustQuery(random_state=s).select(X, 6).tolist() != a.tolist() for s in (2, 3, 4))


def test_singleton_clusters_count_when_every_cluster_is_small(fixed_labels):
    rng = np.random.default_rng(12)
    labels = labels_of_sizes([1, 3])
    fixed_labels(labels)
    idx = TypiClustQuery(min_cluster_size=5).select(points(4, rng), 3)
    assert cluster_of(labels, idx) == [1, 0, 1]


def test_features_are_applied_before_clustering(fixed_labels):
    rng = np.random.default_rng(13)
    fixed_labels(np.zeros(12, int))
    X = points(12, rng)
    Z = points(12, rng)
    got = TypiClustQuery(k_neighbors=3, features=lambda _: Z).select(X, 3).tolist()
    assert got == TypiClustQuery(k_neighbors=3).select(Z, 3).tolist()
    assert got == ref_typiclust(Z, 3, np.zeros(12, int), k_neighbors=3)[0]


# --- parameters --------------------------------------------------------------------------


def test_documented_defaults():
    p = TypiClustQuery().get_params()
    assert (p["max_clusters"], p["k_neighbors"], p["min_cluster_size"]) == (500, 20, 5)
    assert p["random_state"] is None and p["features"] is None


@pytest.mark.parametrize(
    "name, bad, good",
    [("max_clusters", 0, 1), ("k_neighbors", 0, 1), ("min_cluster_size", -1, 0)],
)
def test_each_integer_parameter_has_its_lower_bound(name, bad, good):
    X = points(12, np.random.default_rng(0))
    with pytest.raises(ValueError, match=rf"^{name} must be an integer >= {good}"):
        TypiClustQuery(**{name: bad}).select(X, 2)
    with pytest.raises(TypeError, match=rf"^{name} must be an integer"):
        TypiClustQuery(**{name: 1.5}).select(X, 2)
    assert TypiClustQuery(**{name: good}, random_state=0).select(X, 2).shape == (2,)
