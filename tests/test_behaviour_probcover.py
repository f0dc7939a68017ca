"""ProbCover's choices against brute force written here.

The greedy sequence equals brute-force greedy maximum coverage on a small graph
(balls ``||x - y|| < delta`` on unit vectors, ties by lowest index, labeled balls
covered from the start); the automatic delta is checked against a scan of every
candidate radius (all pairwise distances); and with a fixed delta the picks match
scikit-activeml's ProbCover where both must agree.
"""

import re

import numpy as np
import pytest

from subsel_plugins import ProbCoverQuery, kernels
from subsel_plugins.backends import _balls
from subsel_plugins.errors import ResourceLimitError
from subsel_plugins.strategies import _probcover


def unit(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def pairwise(F):
    return np.sqrt(np.maximum(((F[:, None, :] - F[None, :, :]) ** 2).sum(-1), 0.0))


def ref_greedy(X, delta, budget, labeled=()):
    """Greedy max coverage by brute force: (picks, new coverage of each) until all is covered."""
    A = pairwise(unit(X)) < delta
    covered = A[list(labeled)].any(axis=0) if len(labeled) else np.zeros(len(X), bool)
    eligible = np.ones(len(X), bool)
    eligible[list(labeled)] = False
    picks, gains = [], []
    while len(picks) < budget:
        gain = np.where(eligible, (A & ~covered).sum(axis=1), -1)
        x = int(np.argmax(gain))
        if gain[x] <= 0:
            break
        picks.append(x)
        gains.append(int(gain[x]))
        covered |= A[x]
        eligible[x] = False
    return picks, gains


def safe_delta(X, delta, margin=1e-4):
    """Assert no pairwise distance lies within ``margin`` of delta (float32 cannot flip an edge)."""
    D = pairwise(unit(X))
    assert np.abs(D - delta).min() > margin
    return delta


def sphere_points(n, d, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + np.r_[3.0, np.zeros(d - 1)]


# --- greedy coverage -------------------------------------------------------------------


def test_hand_built_chain():
    """Five points on a circle, 0.1 rad apart, delta covering one neighbour each side."""
    angles = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 1.5])
    X = np.c_[np.cos(angles), np.sin(angles)]
    delta = safe_delta(X, 0.15)
    idx, scores = ProbCoverQuery(delta=delta, random_state=0).select_with_scores(X, 3)
    # 1 covers {0,1,2} (3), ties with 2 and 3 broken by the lowest index; then 3 covers {3,4}
    # (2, ties with 4 broken by index); then the isolated 5 covers itself
    assert idx.tolist() == [1, 3, 5]
    assert scores.tolist() == [3.0, 2.0, 1.0]


def test_balls_are_open():
    """Orthogonal unit vectors lie exactly sqrt(2) apart: a ball of that radius holds only its centre."""
    X = np.eye(3)
    idx, scores = ProbCoverQuery(delta=float(np.sqrt(2.0)), random_state=0).select_with_scores(X, 3)
    assert scores.tolist() == [1.0, 1.0, 1.0]
    idx, scores = ProbCoverQuery(delta=1.5, random_state=0).select_with_scores(X, 3)
    assert idx[0] == 0 and scores.tolist() == [3.0, 0.0, 0.0]


def test_takes_the_maximum_degree_not_the_minimum():
    angles = np.array([0.0, 0.05, 0.1, 0.15, 1.5, 3.0])
    X = np.c_[np.cos(angles), np.sin(angles)]
    idx = ProbCoverQuery(delta=safe_delta(X, 0.12)).select(X, 1)
    assert idx.tolist() == [1]  # 1 and 2 both cover {0,1,2,3}: the lowest index; 4, 5 cover one


def test_labeled_balls_start_covered():
    angles = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 1.5, 1.58, 1.66])
    X = np.c_[np.cos(angles), np.sin(angles)]
    delta = safe_delta(X, 0.12)
    q = ProbCoverQuery(delta=delta)
    # row 2's ball holds rows 0..4 (5), row 6's rows 5..7 (3)
    idx, scores = q.select_with_scores(X, 2)
    assert idx.tolist() == [2, 6] and scores.tolist() == [5.0, 3.0]
    # row 1's ball (rows 0..3) labeled: row 6 gains 3, then only row 4 is left (2, 3, 4 tie)
    idx, scores = q.select_with_scores(X, 2, labeled=[1])
    assert idx.tolist() == [6, 2] and scores.tolist() == [3.0, 1.0]


@pytest.mark.parametrize("seed", range(8))
def test_greedy_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(15, 40)), int(rng.integers(2, 5))
    X = sphere_points(n, d, seed)
    D = pairwise(unit(X))
    # a radius halfway between two neighbouring distances, near the 10% quantile
    dist = np.unique(D[np.triu_indices(n, 1)])
    j = int(len(dist) * rng.uniform(0.03, 0.2))
    delta = float((dist[j] + dist[j + 1]) / 2)
    if abs(dist[j + 1] - dist[j]) < 2e-4:
        pytest.skip("neighbouring distances too close for float32")
    labeled = rng.choice(n, size=int(rng.integers(0, 4)), replace=False).tolist()
    ref_idx, ref_gain = ref_greedy(X, delta, n - len(labeled), labeled)
    budget = len(ref_idx)
    idx, scores = ProbCoverQuery(delta=delta, random_state=0).select_with_scores(
        X, budget, labeled=labeled or None
    )
    assert idx.tolist() == ref_idx
    assert scores.tolist() == ref_gain


def test_after_full_coverage_the_rest_is_random_and_scored_zero():
    X = sphere_points(20, 3, 1)
    delta = 1.0  # a few balls cover everything
    ref_idx, _ = ref_greedy(X, delta, 20)
    assert len(ref_idx) < 5
    draws = set()
    for seed in range(6):
        idx, scores = ProbCoverQuery(delta=delta, random_state=seed).select_with_scores(X, 15, labeled=[19])
        ref_idx, ref_gain = ref_greedy(X, delta, 15, [19])
        k = len(ref_idx)
        assert idx[:k].tolist() == ref_idx
        assert np.all(scores[k:] == 0) and np.all(scores[:k] > 0)
        assert 19 not in idx
        draws.add(tuple(idx[k:].tolist()))
    assert len(draws) > 1  # the fill is random, not in index order


def test_features_are_l2_normalized():
    X = sphere_points(25, 3, 4)
    delta = 0.3
    ref_idx, _ = ref_greedy(X, delta, 5)
    scaled = X * np.random.default_rng(0).uniform(0.1, 10, size=(25, 1))
    assert ProbCoverQuery(delta=delta).select(scaled, len(ref_idx)).tolist() == ref_idx


# --- automatic delta (purity) ------------------------------------------------------------


def brute_purity(F, labels, r):
    """Fraction of rows whose open ball of radius r holds only their own label (float64)."""
    D = pairwise(F)
    impure = (D < r) & (labels[:, None] != labels[None, :])
    return 1.0 - impure.any(axis=1).mean()


@pytest.fixture
def fixed_pseudo_labels(monkeypatch):
    state = {"labels": None, "k": []}

    def fake(F, n_clusters, seed):
        state["k"].append(n_clusters)
        return np.asarray(state["labels"])

    monkeypatch.setattr(_balls, "kmeans_labels", fake)

    def set_labels(labels):
        state["labels"] = np.asarray(labels)
        return state

    return set_labels


@pytest.mark.parametrize("purity", [0.5, 0.8, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_purity_delta_is_the_largest_radius_meeting_the_target(fixed_pseudo_labels, seed, purity):
    rng = np.random.default_rng(seed)
    n = 60
    X = sphere_points(n, 3, 10 + seed)
    F = unit(X)
    labels = (F[:, 1] > np.quantile(F[:, 1], 0.4)).astype(int) + 2 * (F[:, 2] > 0)
    labels[rng.choice(n, 3, replace=False)] = 3  # a few outliers make purity bite
    fixed_pseudo_labels(labels)
    q = ProbCoverQuery(purity=purity, n_classes=4, random_state=0)
    q.select(X, 3)
    delta = q.delta_
    assert brute_purity(F, labels, delta) >= purity
    D = pairwise(F)
    candidates = np.unique(D[np.triu_indices(n, 1)])
    above = candidates[candidates > delta * (1 + 1e-3)]
    meets = [r for r in above if brute_purity(F, labels, r) >= purity]
    assert not meets, (delta, meets[:3])


def test_purity_delta_single_cluster_covers_everything(fixed_pseudo_labels):
    X = sphere_points(12, 3, 0)
    fixed_pseudo_labels(np.zeros(12, int))
    q = ProbCoverQuery(n_classes=2, random_state=0)
    idx, scores = q.select_with_scores(X, 2)
    assert q.delta_ > pairwise(unit(X)).max()
    assert scores.tolist() == [12.0, 0.0]


def test_n_classes_is_the_kmeans_k(fixed_pseudo_labels):
    X = sphere_points(30, 3, 0)
    state = fixed_pseudo_labels(np.arange(30) % 3)
    ProbCoverQuery(n_classes=3, random_state=0).select(X, 2)
    ProbCoverQuery(n_classes=3, random_state=0).select(X, 9, labeled=[0, 1])
    assert state["k"] == [3, 3]


def test_default_k_does_not_depend_on_the_budget(fixed_pseudo_labels):
    """With n_classes=None the pseudo-label k is a fixed default, as in the paper (issue 10)."""
    X = sphere_points(60, 3, 0)
    state = fixed_pseudo_labels(np.arange(60) % 3)
    ProbCoverQuery(random_state=0).select(X, 2)
    ProbCoverQuery(random_state=0).select(X, 20)
    ProbCoverQuery(random_state=0).select(X, 20, labeled=list(range(10)))
    assert len(set(state["k"])) == 1, state["k"]


def test_fixed_delta_skips_kmeans(fixed_pseudo_labels):
    state = fixed_pseudo_labels(np.zeros(10, int))
    q = ProbCoverQuery(delta=0.3)
    q.select(sphere_points(10, 3, 0), 2)
    assert state["k"] == [] and q.delta_ == 0.3


def test_real_kmeans_on_separated_blobs_gives_a_pure_delta():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 3 + 1
    X = np.vstack([c + rng.normal(size=(15, 3)) * 0.05 for c in centres])
    F = unit(X)
    labels = np.repeat([0, 1, 2], 15)
    q = ProbCoverQuery(n_classes=3, purity=1.0, random_state=0)
    idx = q.select(X, 3)
    # delta sits at the gap between blobs, so one ball per blob covers it
    D = pairwise(F)
    within = D[labels[:, None] == labels[None, :]].max()
    between = D[labels[:, None] != labels[None, :]].min()
    assert within < q.delta_ <= between + 1e-6
    assert sorted(labels[idx].tolist()) == [0, 1, 2]


# --- scikit-activeml --------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The maximum purity:UserWarning")  # one delta, no search
@pytest.mark.parametrize("n, d, seed, delta", [(60, 4, 8, 0.35), (80, 5, 4, 0.45)])
def test_agrees_with_scikit_activeml_probcover_at_a_fixed_delta(n, d, seed, delta):
    """Same unit vectors, one delta (no distance within 1e-4 of it, so < and <= agree)."""
    pytest.importorskip("skactiveml")
    from skactiveml.pool import ProbCover
    from skactiveml.utils import MISSING_LABEL

    F = unit(sphere_points(n, d, seed))
    delta = safe_delta(F, delta, margin=1e-5)
    labeled = [5, 17]
    ref_idx, ref_gain = ref_greedy(F, delta, n - 2, labeled)
    # compare while the greedy maximum is unique (scikit-activeml breaks ties at random)
    A = pairwise(F) < delta
    covered = A[labeled].any(axis=0)
    eligible = np.ones(n, bool)
    eligible[labeled] = False
    b = 0
    for x in ref_idx:
        gain = np.where(eligible, (A & ~covered).sum(axis=1), -1)
        if (gain == gain.max()).sum() > 1:
            break
        b += 1
        covered |= A[x]
        eligible[x] = False
    assert b >= 4
    y = np.full(n, MISSING_LABEL)
    y[labeled] = 0
    theirs = ProbCover(deltas=[delta], random_state=0).query(F, y, batch_size=b)
    ours = ProbCoverQuery(delta=delta, random_state=0).select(F, b, labeled=labeled)
    assert ours.tolist() == theirs.tolist() == ref_idx[:b]


def test_default_k_is_ten_capped_by_the_pool(fixed_pseudo_labels):
    state = fixed_pseudo_labels(np.arange(60) % 3)
    q = ProbCoverQuery(random_state=0)
    q.select(sphere_points(60, 3, 0), 2)
    assert state["k"] == [10] and q.n_clusters_ == 10
    state = fixed_pseudo_labels(np.arange(6) % 3)
    q.select(sphere_points(6, 3, 0), 2)
    assert state["k"][-1] == 6 and q.n_clusters_ == 6


def test_recorded_purity_is_the_ball_purity_at_delta(fixed_pseudo_labels):
    X = sphere_points(50, 3, 2)
    F = unit(X)
    labels = (F[:, 1] > 0).astype(int) + 2 * (F[:, 2] > 0.1)
    fixed_pseudo_labels(labels)
    q = ProbCoverQuery(purity=0.9, n_classes=4, random_state=0)
    q.select(X, 2)
    assert q.purity_ == pytest.approx(brute_purity(F, labels, q.delta_))
    assert q.purity_ >= 0.9
    q = ProbCoverQuery(delta=0.3)
    q.select(X, 2)
    assert q.purity_ is None and q.n_clusters_ is None


def test_documented_defaults():
    p = ProbCoverQuery().get_params()
    assert (p["delta"], p["purity"], p["n_classes"]) == (None, 0.95, None)
    assert p["random_state"] is None and p["features"] is None


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(delta=0.0), ValueError, r"^delta must be a finite number in \(0, 2\]"),
        (dict(delta=2.5), ValueError, r"^delta must be a finite number in \(0, 2\]"),
        (dict(delta="1"), TypeError, r"^delta must be a real number or None"),
        (dict(purity=0.0), ValueError, r"^purity must be a finite number in \(0, 1\]"),
        (dict(purity=1.5), ValueError, r"^purity must be a finite number in \(0, 1\]"),
        (dict(purity=None), TypeError, r"^purity must be a real number;"),
        (dict(n_classes=1), ValueError, r"^n_classes must be an integer >= 2"),
        (dict(n_classes=2.0), TypeError, r"^n_classes must be an integer or None"),
    ],
)
def test_parameter_errors_name_the_parameter(kw, error, match):
    with pytest.raises(error, match=match):
        ProbCoverQuery(**kw).select(sphere_points(10, 3, 0), 2)


@pytest.mark.parametrize("kw", [dict(delta=2.0), dict(purity=1.0), dict(n_classes=2)])
def test_parameter_bounds_are_inclusive_where_documented(kw):
    assert ProbCoverQuery(**kw, random_state=0).select(sphere_points(10, 3, 0), 2).shape == (2,)


def test_features_are_applied_before_the_graph():
    X, Z = sphere_points(20, 3, 5), sphere_points(20, 3, 6)
    got = ProbCoverQuery(delta=0.4, features=lambda _: Z).select(X, 3).tolist()
    assert got == ref_greedy(Z, 0.4, 3)[0]


def test_boundary_at_the_rounding_level_keeps_half_the_radius(fixed_pseudo_labels):
    """Two rows 1e-3 apart with different pseudo-labels and purity 1: a tiny, finite delta."""
    X = np.r_[[[1.0, 0.0, 0.0], [1.0, 1e-3, 0.0]], sphere_points(10, 3, 0)]
    labels = np.r_[0, 1, np.zeros(10, int)]
    fixed_pseudo_labels(labels)
    q = ProbCoverQuery(purity=1.0, n_classes=2, random_state=0)
    q.select(X, 2)
    assert np.isfinite(q.delta_) and 0 < q.delta_ < 1e-3
    assert brute_purity(unit(X), labels, q.delta_) == 1.0


@pytest.mark.parametrize("row_block, col_block", [(5, 7), (4, 64), (64, 6)])
def test_graph_built_in_small_blocks_equals_brute_force(monkeypatch, row_block, col_block):
    """Blocks of the distance matrix (sized for N in the millions) stitch into the exact graph."""
    monkeypatch.setattr(kernels, "DISTANCE_ROW_BLOCK", row_block)
    monkeypatch.setattr(_balls, "DISTANCE_ROW_BLOCK", row_block)
    monkeypatch.setattr(kernels, "DISTANCE_COL_BLOCK", col_block)
    monkeypatch.setenv("SUBSEL_FAISS", "0")
    X = sphere_points(23, 3, 9)
    F = unit(X)
    A = _probcover.ball_graph(F.astype(np.float32), 0.5)
    np.testing.assert_array_equal(A.toarray(), pairwise(F) < 0.5)
    d = _probcover.distance_to_other_cluster(F.astype(np.float32), np.arange(23) % 3)
    D = pairwise(F)
    D[(np.arange(23) % 3)[:, None] == (np.arange(23) % 3)[None, :]] = np.inf
    np.testing.assert_allclose(d, D.min(axis=1), atol=1e-3)
    ref_idx, ref_gain = ref_greedy(X, 0.5, 20, [2])
    idx, scores = ProbCoverQuery(delta=0.5).select_with_scores(X, len(ref_idx), labeled=[2])
    assert idx.tolist() == ref_idx and scores.tolist() == ref_gain


def test_two_classes_still_cluster_and_a_single_row_is_taken(fixed_pseudo_labels):
    state = fixed_pseudo_labels(np.arange(10) % 2)
    ProbCoverQuery(n_classes=2, random_state=0).select(sphere_points(10, 3, 0), 2)
    assert state["k"] == [2]
    assert ProbCoverQuery(random_state=0).select(sphere_points(1, 3, 0), 1).tolist() == [0]


def test_pseudo_labels_follow_random_state():
    X = np.random.default_rng(0).normal(size=(80, 5))
    q = ProbCoverQuery(random_state=1)
    q.select(X, 3)
    again = ProbCoverQuery(random_state=1)
    again.select(X, 3)
    assert again.delta_ == q.delta_
    others = []
    for s in (2, 3, 4, 5):
        p = ProbCoverQuery(random_state=s)
        p.select(X, 3)
        others.append(p.delta_)
    assert any(d != q.delta_ for d in others)


def test_random_state_seeds_the_pseudo_labels():
    # Found by mutmut: ProbCover ignoring random_state (stored as None) survived, since
    # no test compared two objects on data where k-means depends on its seed.
    X = np.random.default_rng(0).uniform(size=(300, 6))

    def delta(seed):
        q = ProbCoverQuery(random_state=seed)
        q.select(X, 3)
        return q.delta_

    assert len({delta(s) for s in range(4)}) > 1  # the data is seed-sensitive
    assert all(delta(7) == delta(7) for _ in range(3))  # and a seed fixes it


# --- memory: the ball graph is estimated and refused before it is built (issue 22) ---


def clustered(n, d=32, k=20, seed=0):
    """Issue 22's geometry at CI size: k well-separated centres, each row a centre plus 0.7 noise."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((k, d)).astype(np.float32)
    return C[rng.integers(0, k, n)] + 0.7 * rng.standard_normal((n, d)).astype(np.float32)


@pytest.fixture
def no_graph(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the graph was built")

    monkeypatch.setattr(_balls, "ball_graph", refuse)
    monkeypatch.setattr(_balls, "ball_graph_approx", refuse)


@pytest.mark.parametrize("approximate", [False, True])
def test_a_graph_over_the_memory_limit_is_refused_before_it_is_built(no_graph, approximate):
    X = clustered(3000)
    q = ProbCoverQuery(n_classes=20, random_state=0, approximate=approximate, max_graph_memory="2MB")
    with pytest.raises(ResourceLimitError) as info:
        q.select(X, 5)
    msg = str(info.value)
    assert "\n" not in msg and isinstance(info.value, MemoryError)
    # most of a cluster (150 rows) in each ball: some 3e5 edges
    edges = float(re.search(r"about ([0-9.e+]+) edges", msg).group(1))
    assert 2e5 < edges < 4.5e5
    for part in ("max_graph_memory=2 MB (given)", "delta <= ", "purity", "n_classes", "refused before"):
        assert part in msg


def test_the_delta_a_refusal_names_fits_the_limit():
    X = clustered(3000)
    q = ProbCoverQuery(n_classes=20, random_state=0, approximate=False, max_graph_memory="2MB")
    with pytest.raises(ResourceLimitError, match="delta <= ") as info:
        q.select(X, 5)
    fit = float(re.search(r"delta <= ([0-9.e-]+) would fit", str(info.value)).group(1))
    assert fit < q.delta_
    q2 = ProbCoverQuery(delta=fit, random_state=0, approximate=False, max_graph_memory="2MB")
    assert q2.select(X, 5).shape == (5,)
    assert q2.graph_bytes_ <= 2e6
    # a given delta is the only radius to change: no purity / n_classes hint
    with pytest.raises(ResourceLimitError) as info:
        ProbCoverQuery(delta=q.delta_, approximate=False, max_graph_memory="2MB").select(X, 5)
    assert "n_classes" not in str(info.value)


@pytest.mark.parametrize("approximate", [False, True])
def test_the_edge_estimate_is_close_to_the_graph_built(monkeypatch, approximate):
    X = clustered(3000)  # above BALL_SAMPLE_ROWS: the estimate is sampled
    built = {}
    name = "ball_graph_approx" if approximate else "ball_graph"
    original = getattr(_balls, name)

    def keep(*a):
        built["A"] = original(*a)
        return built["A"]

    monkeypatch.setattr(_balls, name, keep)
    q = ProbCoverQuery(n_classes=20, random_state=0, approximate=approximate, max_graph_memory="1GB")
    q.select(X, 5)
    nnz = built["A"].nnz
    assert abs(q.graph_bytes_ - (nnz * _probcover.GRAPH_BYTES_PER_EDGE + 16 * 3000)) < 0.1 * q.graph_bytes_


def test_the_estimate_is_exact_below_the_sample_size():
    F = _probcover.unit_rows_float32(clustered(400))
    edges, at = _probcover.estimate_ball_edges(F, 0.9, [0.5])
    assert edges == _probcover.ball_graph(F, 0.9).nnz
    assert at[0] == _probcover.ball_graph(F, 0.5).nnz


def test_the_default_limit_is_half_the_available_memory(monkeypatch, no_graph):
    monkeypatch.setattr(_probcover, "available_memory", lambda: 2_000_000)
    with pytest.raises(ResourceLimitError, match=r"max_graph_memory=1 MB \(the default: half of the 2 MB"):
        ProbCoverQuery(n_classes=20, random_state=0, approximate=False).select(clustered(3000), 5)


def test_available_memory_respects_the_address_space_limit(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (3 * 10**9, resource.RLIM_INFINITY))
    left = _probcover._address_space_left()
    assert 0 <= left < 3 * 10**9
    assert _probcover.available_memory() <= max(left, 0) or left == 0


@pytest.mark.parametrize(
    "value, error",
    [
        (0, ValueError),
        (-5, ValueError),
        (float("inf"), ValueError),
        ("lots", ValueError),
        ("-1GB", ValueError),
        (True, TypeError),
        ([1], TypeError),
        (10**400, ValueError),
    ],
)
def test_max_graph_memory_errors_name_the_parameter(value, error):
    with pytest.raises(error, match=r"^max_graph_memory must be a positive number of bytes"):
        ProbCoverQuery(max_graph_memory=value).select(sphere_points(10, 3, 0), 2)


@pytest.mark.parametrize(
    "value, size",
    [
        ("4GB", 4 * 10**9),
        ("512MiB", 512 * 2**20),
        (2e9, 2 * 10**9),
        ("1.5 G", int(1.5 * 2**30)),
        (10**6, 10**6),
    ],
)
def test_max_graph_memory_takes_bytes_and_sizes(value, size):
    from subsel_plugins._validation import check_memory_size

    assert check_memory_size(value, "max_graph_memory") == size
    q = ProbCoverQuery(max_graph_memory=value, random_state=0)
    assert q.select(sphere_points(10, 3, 0), 2).shape == (2,)


def test_a_graph_far_over_the_limit_is_refused_before_the_full_purity_search(monkeypatch, no_graph):
    monkeypatch.setattr(_probcover, "PURITY_SAMPLE_ROWS", 1000)
    monkeypatch.setattr(_probcover, "PRECHECK_ROWS", 200)
    searched = []
    original = _probcover.distance_to_other_cluster

    def count(F, labels, rows=None):
        searched.append(None if rows is None else rows.size)
        return original(F, labels, rows)

    monkeypatch.setattr(_balls, "distance_to_other_cluster", count)
    q = ProbCoverQuery(n_classes=20, random_state=0, approximate=True, max_graph_memory="100kB")
    with pytest.raises(ResourceLimitError, match="the radius from the first 200 of 1000 purity rows"):
        q.select(clustered(3000), 5)
    assert searched == [200]


def test_the_precheck_does_not_change_the_picks(monkeypatch):
    # same rows sampled, same radius: a limit that fits gives the picks of an unlimited run
    monkeypatch.setattr(_probcover, "PURITY_SAMPLE_ROWS", 1000)
    X = clustered(3000)
    a = ProbCoverQuery(n_classes=20, random_state=0, approximate=True, max_graph_memory="1GB")
    b = ProbCoverQuery(n_classes=20, random_state=0, approximate=True, max_graph_memory="1TB")
    np.testing.assert_array_equal(a.select(X, 8), b.select(X, 8))
    assert a.delta_ == b.delta_
