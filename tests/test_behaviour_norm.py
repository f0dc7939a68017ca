"""Feature-norm selection and the samplers behind it, rule by rule.

randomized=False is exactly top-k by the chosen norm (ties by index); labeled rows are
never returned and carry no weight; successive_sample is exactly an exponential race
(the first k arrivals, in arrival order) and top_k is exactly a stable descending sort.
The laws of the randomized picks are checked by chi-square in test_distributions.py;
this adds the law with labeled rows excluded.
"""

import numpy as np
import pytest
from scipy import stats

from subsel_plugins import FeatureNormQuery
from subsel_plugins.kernels import successive_sample, top_k

# rows ranked differently by l1, l2 and linf
X_NORMS = np.array(
    [
        [3.0, 0.0, 0.0],  # l1 3.0  l2 3.00  linf 3.0
        [2.0, 2.0, 0.0],  # l1 4.0  l2 2.83  linf 2.0
        [1.9, 1.9, 1.9],  # l1 5.7  l2 3.29  linf 1.9
        [2.5, -0.5, 0.0],  # l1 3.0  l2 2.55  linf 2.5
        [0.0, 0.0, -3.2],  # l1 3.2  l2 3.20  linf 3.2
        [1.0, 1.0, 1.0],  # l1 3.0  l2 1.73  linf 1.0
    ]
)
ORD = {"l1": 1, "l2": 2, "linf": np.inf}


def ref_top(X, norm, k, labeled=()):
    norms = np.linalg.norm(X, ord=ORD[norm], axis=1)
    order = [i for i in sorted(range(len(X)), key=lambda i: (-norms[i], i)) if i not in set(labeled)]
    return order[:k]


def test_the_three_norms_rank_differently():
    tops = {norm: ref_top(X_NORMS, norm, 6) for norm in ORD}
    assert len({tuple(t) for t in tops.values()}) == 3, tops


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_deterministic_is_top_k_by_the_chosen_norm(norm, k):
    idx, scores = FeatureNormQuery(norm=norm, randomized=False).select_with_scores(X_NORMS, k)
    assert idx.tolist() == ref_top(X_NORMS, norm, k)
    np.testing.assert_allclose(scores, np.linalg.norm(X_NORMS[idx], ord=ORD[norm], axis=1))


def test_the_default_norm_is_l2():
    assert FeatureNormQuery(randomized=False).select(X_NORMS, 6).tolist() == ref_top(X_NORMS, "l2", 6)


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_deterministic_ties_go_by_index(norm):
    X = np.array([[1.0], [2.0], [2.0], [1.0], [3.0], [2.0]])
    assert FeatureNormQuery(norm=norm, randomized=False).select(X, 4).tolist() == [4, 1, 2, 5]
    assert FeatureNormQuery(norm=norm, randomized=False).select(X, 6).tolist() == [4, 1, 2, 5, 0, 3]


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_deterministic_skips_labeled_rows(norm):
    lab = ref_top(X_NORMS, norm, 2)
    idx = FeatureNormQuery(norm=norm, randomized=False).select(X_NORMS, 3, labeled=lab)
    assert idx.tolist() == ref_top(X_NORMS, norm, 3, labeled=lab)
    idx = FeatureNormQuery(norm=norm, randomized=False).select(X_NORMS, 4, labeled=lab)
    assert sorted(idx.tolist()) == sorted(set(range(6)) - set(lab))


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
def test_randomized_scores_are_the_norms_of_the_picks(norm):
    idx, scores = FeatureNormQuery(norm=norm, random_state=0).select_with_scores(X_NORMS, 4)
    np.testing.assert_allclose(scores, np.linalg.norm(X_NORMS[idx], ord=ORD[norm], axis=1))


def test_randomized_never_returns_labeled_rows():
    for seed in range(30):
        idx = FeatureNormQuery(random_state=seed).select(X_NORMS, 4, labeled=[2, 4])
        assert not {2, 4} & set(idx.tolist())


def test_first_pick_law_with_labeled_rows_excluded():
    """P(first = j) = w_j / sum of the unlabeled weights; the labeled heavy row takes no mass."""
    X = np.array([[10.0], [1.0], [2.0], [3.0], [4.0]])
    labeled = [0]
    n = 4000
    first = np.array([FeatureNormQuery(random_state=s).select(X, 1, labeled=labeled)[0] for s in range(n)])
    counts = np.bincount(first, minlength=5)
    assert counts[0] == 0
    w = X[1:, 0]
    assert stats.chisquare(counts[1:], w / w.sum() * n).pvalue > 1e-3
    # the test has power: the law with the labeled row's weight still in the total is rejected
    assert stats.chisquare(counts[1:], np.r_[w[:-1] / 20 * n, (w[-1] + 10) / 20 * n]).pvalue < 1e-3


def test_second_pick_law_conditional_on_the_first():
    """After row a, P(second = j) = w_j / (W - w_a): successive sampling, not with replacement."""
    w = np.array([1.0, 2.0, 3.0, 4.0])
    n = 6000
    pairs = np.array([successive_sample(w, 2, np.random.default_rng(s)) for s in range(n)])
    sel = pairs[pairs[:, 0] == 3, 1]  # first pick = the heaviest
    counts = np.bincount(sel, minlength=4)
    assert counts[3] == 0
    assert stats.chisquare(counts[:3], w[:3] / w[:3].sum() * sel.size).pvalue > 1e-3


# --- the samplers themselves ------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5, 9, 10])
@pytest.mark.parametrize("seed", range(5))
def test_successive_sample_is_the_exponential_race(seed, k):
    """The first k arrivals of E_i / w_i, in arrival order (Efraimidis-Spirakis)."""
    w = np.random.default_rng(100 + seed).uniform(0.1, 5.0, size=10)
    t = np.random.default_rng(seed).standard_exponential(10) / w
    expected = np.argsort(t, kind="stable")[:k]
    got = successive_sample(w, k, np.random.default_rng(seed))
    assert got.tolist() == expected.tolist()
    assert got.dtype == np.int64


def test_successive_sample_prefixes_agree_across_k():
    w = np.arange(1.0, 13.0)
    full = successive_sample(w, 12, np.random.default_rng(3))
    for k in range(1, 12):
        assert successive_sample(w, k, np.random.default_rng(3)).tolist() == full[:k].tolist()


def test_successive_sample_zero_weights_only_after_positive_ones():
    w = np.array([0.0, 5.0, 0.0, 1.0, 0.0])
    seen_last = set()
    for s in range(40):
        with pytest.warns(RuntimeWarning, match="only 2 rows have positive"):
            idx = successive_sample(w, 4, np.random.default_rng(s))
        assert set(idx[:2].tolist()) == {1, 3}
        assert set(idx[2:].tolist()) <= {0, 2, 4} and len(set(idx.tolist())) == 4
        seen_last.add(tuple(idx[2:].tolist()))
    assert len(seen_last) > 2  # the zero-weight fill is random


def test_successive_sample_with_enough_positive_weights_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx = successive_sample(np.array([0.0, 1.0, 2.0]), 2, np.random.default_rng(0))
    assert set(idx.tolist()) == {1, 2}


@pytest.mark.parametrize("k", [1, 2, 3, 5, 6])
def test_top_k_is_a_stable_descending_sort(k):
    s = np.array([1.0, 3.0, 3.0, 2.0, 0.5, 3.0])
    assert top_k(s, k).tolist() == [1, 2, 5, 3, 0, 4][:k]
    assert top_k(s, k).dtype == np.int64


def test_top_k_ties_straddling_the_cut_go_by_index():
    assert top_k(np.array([0.0, 0.0, 1.0, 0.0, 1.0]), 3).tolist() == [2, 4, 0]


def test_deterministic_feature_norm_ties_straddling_the_cut_go_by_index():
    X = np.array([[0.0], [0.0], [1.0], [0.0], [1.0]])
    assert FeatureNormQuery(randomized=False).select(X, 3).tolist() == [2, 4, 0]


@pytest.mark.parametrize("seed", [1, 4])
def test_top_k_random_with_ties(seed):
    s = np.random.default_rng(seed).integers(0, 4, size=15).astype(float)
    ref = sorted(range(15), key=lambda i: (-s[i], i))
    for k in (1, 4, 7, 15):
        assert top_k(s, k).tolist() == ref[:k]


@pytest.mark.parametrize("k", [1, 2, 17, 500, 1999])
def test_top_k_on_a_large_array_with_ties(k):
    """Large enough that argpartition really partitions (small arrays come out sorted)."""
    s = np.random.default_rng(7).integers(0, 50, size=2000).astype(float)
    ref = sorted(range(s.size), key=lambda i: (-s[i], i))
    assert top_k(s, k).tolist() == ref[:k]


# --- parameters --------------------------------------------------------------------------


def test_documented_defaults():
    p = FeatureNormQuery().get_params()
    assert (p["norm"], p["randomized"], p["random_state"], p["features"]) == ("l2", True, None, None)


def test_parameter_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"^norm must be one of"):
        FeatureNormQuery(norm="l9").select(X_NORMS, 2)
    with pytest.raises(TypeError, match=r"^randomized must be True or False"):
        FeatureNormQuery(randomized="no").select(X_NORMS, 2)


def test_features_are_applied_before_the_norms():
    Z = X_NORMS[::-1].copy()
    got = FeatureNormQuery(randomized=False, features=lambda _: Z).select(X_NORMS, 3).tolist()
    assert got == ref_top(Z, "l2", 3)


def test_zero_norm_fill_warning_names_the_norm():
    X = np.array([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    msg = (
        r"^only 1 rows have positive l1 feature norm; the other 1 picks were drawn "
        r"uniformly among zero-weight rows\.$"
    )
    with pytest.warns(RuntimeWarning, match=msg):
        idx = FeatureNormQuery(norm="l1", random_state=0).select(X, 2)
    assert idx[0] == 1


@pytest.mark.parametrize("k", [2, 17, 500])
def test_successive_sample_on_a_large_array_is_the_exponential_race(k):
    """Large enough that argpartition really partitions (small arrays come out sorted)."""
    w = np.random.default_rng(5).uniform(0.1, 5.0, size=3000)
    t = np.random.default_rng(6).standard_exponential(3000) / w
    got = successive_sample(w, k, np.random.default_rng(6))
    assert got.tolist() == np.argsort(t, kind="stable")[:k].tolist()


def test_successive_sample_race_cut_at_a_case_where_an_off_by_one_partition_differs():
    """n=3147, k=2210, seed 32: partitioning at k-2 instead of k-1 takes a wrong k-th arrival here."""
    w = np.ones(3147)
    t = np.random.default_rng(32).standard_exponential(3147)
    got = successive_sample(w, 2210, np.random.default_rng(32))
    assert got.tolist() == np.argsort(t, kind="stable")[:2210].tolist()
