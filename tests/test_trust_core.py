"""Trust at the core's edges: fresh draws per round, magnitudes, malformed inputs, typed errors.

Each test here failed on the code before the trust issue (issue 10); the
comment above each says what it used to do.
"""

import subprocess
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from subsel_plugins import (
    FeatureNormQuery,
    GramSchmidtQuery,
    ProbCoverQuery,
    QueryStrategy,
    RandomQuery,
    ThenQuery,
    TypiClustQuery,
    get_strategy,
)
from subsel_plugins.backends import ArrayPool
from subsel_plugins.errors import InvalidTypeError, InvalidValueError, SubselError
from subsel_plugins.registry import PluginError
from subsel_plugins.strategies._gs_sampler import MAX_IDLE_REFRESHES, SamplerInvariantError
from subsel_plugins.testing import PAIR_TEST_X, chi_square_pvalue, exact_pair_probabilities

ALPHA = 1e-3
N_LOOPS = 4000


# -- fresh randomness per round ------------------------------------------------------


def _loop_pairs(make, n_loops, learner_rounds):
    """Ordered (round-1 pick, round-2 pick), as rows of PAIR_TEST_X, over seeds 0..n_loops-1."""
    counts = {}
    for seed in range(n_loops):
        pair = learner_rounds(make(seed))
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _shrinking_pool_rounds(strategy):
    """Two rounds of one pick each; the picked row leaves the pool (positions shift)."""
    rows = np.arange(len(PAIR_TEST_X))
    (a,) = strategy.select(PAIR_TEST_X[rows], 1)
    first = int(rows[a])
    rows = np.delete(rows, a)
    (b,) = strategy.select(PAIR_TEST_X[rows], 1)
    return first, int(rows[b])


def _modal_protocol_rounds(strategy):
    """Two rounds through the modAL protocol: the first pick becomes learner.X_training."""
    rows = np.arange(len(PAIR_TEST_X))
    learner = types.SimpleNamespace(X_training=None)
    (a,), _ = strategy(learner, PAIR_TEST_X[rows], n_instances=1)
    first = int(rows[a])
    learner.X_training = PAIR_TEST_X[[first]]
    rows = np.delete(rows, a)
    (b,), _ = strategy(learner, PAIR_TEST_X[rows], n_instances=1)
    return first, int(rows[b])


def test_reused_seeded_norm_strategy_follows_eq1_in_every_round():
    # Before: the seeded strategy replayed round 1's exponentials in round 2, so the
    # pair (round 1, round 2) did not follow successive sampling (p ~ 1e-30 here).
    counts = _loop_pairs(lambda s: FeatureNormQuery(random_state=s), N_LOOPS, _shrinking_pool_rounds)
    exact = exact_pair_probabilities(PAIR_TEST_X, "feature_norm")
    assert chi_square_pvalue(counts, exact, N_LOOPS) > ALPHA


def test_reused_seeded_gs_strategy_in_a_modal_loop_follows_alg1():
    # Round 2 projects round 1's pick out (learner.X_training as labeled): Alg. 1's law
    # of the first two picks, drawn with fresh numbers in round 2.
    counts = _loop_pairs(lambda s: GramSchmidtQuery(random_state=s), N_LOOPS, _modal_protocol_rounds)
    exact = exact_pair_probabilities(PAIR_TEST_X, "gram_schmidt")
    assert chi_square_pvalue(counts, exact, N_LOOPS) > ALPHA


def test_reused_strategy_overlap_is_chance_level():
    # The measurement: 20 picks from a 60-row pool, then 20 from the 40 left
    # (positions shifted). Before: 17 of round 1's pool positions came back.
    X = np.random.default_rng(0).uniform(0.5, 1.5, size=(60, 4))
    overlaps = []
    for seed in range(200):
        q = FeatureNormQuery(random_state=seed)
        a = q.select(X, 20)
        b = q.select(np.delete(X, a, axis=0), 20)
        overlaps.append(np.intersect1d(a, b).size)
    # Uniform-ish chance: 20 of 60 positions, each round-2 position hit with p ~ 1/3.
    assert np.mean(overlaps) < 9


@pytest.mark.parametrize("random_state", [7, "generator", "randomstate"])
def test_same_seed_reproduces_the_whole_sequence_of_rounds(random_state):
    def make():
        if random_state == "generator":
            return GramSchmidtQuery(random_state=np.random.default_rng(7))
        if random_state == "randomstate":
            return GramSchmidtQuery(random_state=np.random.RandomState(7))
        return GramSchmidtQuery(random_state=random_state)

    X = np.random.default_rng(1).normal(size=(80, 6))
    a, b = make(), make()
    rounds_a = [a.select(X, 5) for _ in range(4)]
    rounds_b = [b.select(X, 5) for _ in range(4)]
    for x, y in zip(rounds_a, rounds_b):
        np.testing.assert_array_equal(x, y)
    assert len({tuple(r) for r in rounds_a}) == 4  # fresh draws each round
    np.testing.assert_array_equal(clone(a).select(X, 5), rounds_a[0])


def test_first_call_draws_exactly_as_before():
    # Single-selection results (README tables, the harness) are unchanged by the
    # per-call streams: call 0 of an int seed is default_rng(seed).
    X = np.random.default_rng(2).uniform(0.1, 1, size=(30, 3))
    from subsel_plugins.kernels import row_norms, successive_sample

    expected = successive_sample(row_norms(X), 6, np.random.default_rng(11))
    np.testing.assert_array_equal(FeatureNormQuery(random_state=11).select(X, 6), expected)


def test_changing_random_state_restarts_the_stream():
    X = np.random.default_rng(3).normal(size=(50, 4))
    q = FeatureNormQuery(random_state=1)
    q.select(X, 5)
    q.set_params(random_state=2)
    np.testing.assert_array_equal(q.select(X, 5), FeatureNormQuery(random_state=2).select(X, 5))


def test_then_query_components_draw_fresh_each_round():
    # ThenQuery(random_state=None) keeps its components' own seeds; before, it cloned
    # them every call, so the seeded components replayed round 1.
    X = np.random.default_rng(4).normal(size=(100, 5))
    q = ThenQuery(FeatureNormQuery(random_state=0), GramSchmidtQuery(random_state=0))
    rounds = [tuple(q.select(X, 5)) for _ in range(3)]
    assert len(set(rounds)) == 3
    again = ThenQuery(FeatureNormQuery(random_state=0), GramSchmidtQuery(random_state=0))
    assert [tuple(again.select(X, 5)) for _ in range(3)] == rounds
    # the fitted parts are exposed
    assert isinstance(q.first_, FeatureNormQuery) and isinstance(q.then_, GramSchmidtQuery)
    assert q.first is not q.first_


# -- modAL as the design card writes it --------------------------------------------

_MODAL_HEADLINE = """
import warnings
import numpy as np
from modAL.models import ActiveLearner
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from subsel_plugins import GramSchmidtQuery   # no adapter import

X, y = load_digits(return_X_y=True)
warm = {warm}
kw = dict(X_training=X[:10], y_training=y[:10]) if warm else {{}}
learner = ActiveLearner(estimator=LogisticRegression(max_iter=200), query_strategy=GramSchmidtQuery(),
                        **kw)
pool, ypool = X[10:], y[10:]
for _ in range(2):
    idx, _ = learner.query(pool, n_instances=5)
    learner.teach(pool[idx], ypool[idx])
    pool, ypool = np.delete(pool, idx, 0), np.delete(ypool, idx)
print("ok", len(learner.X_training))
"""


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_modal_headline_usage_needs_no_adapter_import(warm, tmp_path):
    # Before: teach() raised modAL's TypeError on scikit-learn >= 1.8 unless the user
    # had imported subsel_plugins.adapters.modal.
    pytest.importorskip("modAL")
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MODAL_HEADLINE.format(warm=warm))],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # outside the repo root, where the source tree would shadow the install
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok", str(20 if warm else 10)]


# -- magnitudes ---------------------------------------------------------------------

SCALE_INVARIANT = [
    ("feature_norm", {}),
    ("feature_norm", {"randomized": False}),
    ("gram_schmidt", {}),
    ("gram_schmidt", {"randomized": False}),
    ("gram_schmidt", {"method": "plain"}),
    ("typiclust", {}),
    ("probcover", {}),
]


@pytest.mark.parametrize("name, params", SCALE_INVARIANT, ids=lambda v: str(v))
@pytest.mark.parametrize(
    "dtype, exponent",
    [(np.float64, e) for e in (-600, -200, -70, 70, 200, 600)] + [(np.float32, e) for e in (-70, 70)],
)
def test_huge_and_tiny_values_pick_as_the_rescaled_matrix(name, params, exponent, dtype):
    # Before: GS never returned on 1e155 entries, norm sampling picked in index order
    # (all-huge) or uniformly (all-tiny), TypiClust/ProbCover failed past float32's range.
    X = np.random.default_rng(5).uniform(-1, 1, size=(60, 5)).astype(dtype)
    scaled = np.ldexp(X, exponent).astype(dtype)
    assert np.isfinite(scaled).all() and (scaled != 0).all()
    a, sa = get_strategy(name, random_state=3, **params).select_with_scores(X, 6)
    b, sb = get_strategy(name, random_state=3, **params).select_with_scores(scaled, 6)
    np.testing.assert_array_equal(a, b)
    degree = get_strategy(name).score_degree
    np.testing.assert_allclose(sb, np.ldexp(sa, exponent * degree), rtol=1e-5)


def test_scores_beyond_float64_stay_rescaled_with_a_warning():
    # Issue 22: with every entry near the float maximum, scores came back as inf.
    from subsel_plugins._validation import ScoresNotRescaledWarning, scale_scores_back

    s = np.array([1.6688, 1.5, 0.0])
    np.testing.assert_array_equal(scale_scores_back(s, 10), s * 1024)  # representable: exact
    with pytest.warns(ScoresNotRescaledWarning, match=r"features times 2\*\*-1024"):
        got = scale_scores_back(s, 1024)
    np.testing.assert_array_equal(got, s)  # all left rescaled, so they still compare
    np.testing.assert_array_equal(scale_scores_back(s, -2000), np.zeros(3))  # underflow is 0, no warning


HUGE = np.full((20, 4), 1.5e308)


@pytest.mark.parametrize(
    "name, params",
    [
        ("feature_norm", dict(randomized=False)),
        ("gram_schmidt", {}),
        ("typiclust_norm", {}),
        ("probcover_then_norm", {}),
    ],
)
def test_unrepresentable_scores_are_never_inf(name, params):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        idx, scores = get_strategy(name, random_state=0, **params).select_with_scores(HUGE, 3)
    assert np.unique(idx).size == 3
    assert np.isfinite(scores).all()
    assert any(w.category.__name__ == "ScoresNotRescaledWarning" for w in seen)


@pytest.mark.parametrize("randomized", [True, False])
def test_gram_schmidt_returns_and_takes_the_dominant_row_first(randomized):
    # Before: one 1e155 entry made GS loop forever (randomized) or skip that row (max).
    X = np.random.default_rng(6).normal(size=(200, 8))
    X[3, 2] = 1e155
    q = GramSchmidtQuery(randomized=randomized, random_state=0)
    idx = q.select(X, 5)
    assert idx[0] == 3 and np.unique(idx).size == 5


def test_float64_beyond_float32_range_works_for_the_baselines():
    X = np.random.default_rng(7).normal(size=(80, 4)) * 1e300
    for cls in (TypiClustQuery, ProbCoverQuery):
        np.testing.assert_array_equal(
            cls(random_state=0).select(X, 5), cls(random_state=0).select(X / 1e300, 5)
        )


def test_fast_sampler_raises_on_a_violated_bound(monkeypatch):
    # A bound below the residual would bias the law silently; it must fail loudly.
    X = np.random.default_rng(8).normal(size=(300, 6))
    monkeypatch.setattr(
        ArrayPool,
        "bounds",
        lambda self, idx=None: np.full(self.n if idx is None else len(idx), 1e-3),
    )
    with pytest.raises(SamplerInvariantError, match="exceeds its bound"):
        GramSchmidtQuery(random_state=0).select(X, 5)


def test_fast_sampler_raises_instead_of_hanging(monkeypatch):
    X = np.random.default_rng(9).normal(size=(300, 6))
    # bounds that never let a trial accept and never certify exhaustion
    monkeypatch.setattr(
        ArrayPool,
        "exact_weights",
        lambda self, rows, R: np.zeros(len(rows)),
    )
    with pytest.raises(SamplerInvariantError, match="not progressing"):
        GramSchmidtQuery(random_state=0).select(X, 5)
    monkeypatch.undo()
    monkeypatch.setattr(
        ArrayPool,
        "bounds",
        lambda self, idx=None: np.full(self.n if idx is None else len(idx), np.nan),
    )
    with pytest.raises(SamplerInvariantError, match="sum to nan"):
        GramSchmidtQuery(random_state=0).select(X, 5)


# -- malformed inputs ---------------------------------------------------------------


@pytest.mark.parametrize("rows", [3, 60])
def test_features_callable_must_keep_the_rows(rows):
    # Before: a features= output with other rows gave indices past the end of X, silently.
    X = np.random.default_rng(10).normal(size=(20, 4))
    q = FeatureNormQuery(features=lambda x: np.ones((rows, 2)))
    with pytest.raises(InvalidValueError, match=rf"features\(X\) returned {rows} rows for the 20 rows of X"):
        q.select(X, 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_features_callable_output_is_checked_like_x(bad):
    X = np.random.default_rng(11).normal(size=(20, 4))

    def features(x):
        out = x.copy()
        out[4, 1] = bad
        return out

    with pytest.raises(InvalidValueError, match=r"features\(X\) contains NaN or infinity \(first at row 4\)"):
        GramSchmidtQuery(features=features).select(X, 2)


def test_masked_arrays_are_refused():
    # Before: NaN under the mask slipped past the finiteness check.
    data = np.random.default_rng(12).normal(size=(20, 3))
    data[2, 1] = np.nan
    X = np.ma.masked_invalid(data)
    for cls in (FeatureNormQuery, GramSchmidtQuery, TypiClustQuery, ProbCoverQuery, RandomQuery):
        with pytest.raises(InvalidTypeError, match=r"masked array.*filled"):
            cls().select(X, 2)


@pytest.mark.parametrize(
    "factor, exc",
    [
        (float("inf"), InvalidValueError),
        (float("nan"), InvalidValueError),
        (0.5, InvalidValueError),
        (None, InvalidTypeError),
        ("2", InvalidTypeError),
        (True, InvalidTypeError),
    ],
)
def test_then_factor_is_checked(factor, exc):
    # Before: factor=inf raised OverflowError from math.ceil.
    X = np.random.default_rng(13).normal(size=(30, 3))
    with pytest.raises(exc, match="factor must be"):
        ThenQuery(RandomQuery(), FeatureNormQuery(), factor=factor).select(X, 3)


@pytest.mark.parametrize("factor", [1e300, 1e308])
def test_absurd_but_finite_factor_takes_the_whole_pool(factor):
    X = np.random.default_rng(14).normal(size=(30, 3))
    idx = ThenQuery(RandomQuery(), FeatureNormQuery(randomized=False), factor=factor).select(X, 3)
    np.testing.assert_array_equal(np.sort(idx), np.sort(FeatureNormQuery(randomized=False).select(X, 3)))


# -- TypeError for a type, ValueError for a value (scikit-learn's check_scalar) ------------

WRONG_TYPES = [
    (TypiClustQuery, "k_neighbors", "string"),
    (TypiClustQuery, "k_neighbors", 2.5),
    (TypiClustQuery, "max_clusters", None),
    (TypiClustQuery, "min_cluster_size", True),
    (ProbCoverQuery, "delta", "0.3"),
    (ProbCoverQuery, "purity", [0.9]),
    (ProbCoverQuery, "n_classes", 10.0),
    (FeatureNormQuery, "norm", 1),
    (FeatureNormQuery, "randomized", 1),
    (GramSchmidtQuery, "norm", None),
    (GramSchmidtQuery, "method", 0),
    (GramSchmidtQuery, "randomized", "no"),
    (RandomQuery, "random_state", "seed"),
    (RandomQuery, "random_state", 1.5),
]
WRONG_VALUES = [
    (TypiClustQuery, "k_neighbors", 0),
    (TypiClustQuery, "max_clusters", -3),
    (TypiClustQuery, "min_cluster_size", -1),
    (ProbCoverQuery, "delta", 0.0),
    (ProbCoverQuery, "delta", 2.5),
    (ProbCoverQuery, "delta", float("nan")),
    (ProbCoverQuery, "purity", 1.5),
    (ProbCoverQuery, "n_classes", 1),
    (FeatureNormQuery, "norm", "l3"),
    (GramSchmidtQuery, "method", "qr"),
    (RandomQuery, "random_state", -1),
]


@pytest.mark.parametrize("cls, param, value", WRONG_TYPES, ids=lambda v: repr(v))
def test_wrong_type_is_a_type_error_naming_the_parameter(cls, param, value):
    X = np.random.default_rng(15).normal(size=(20, 3))
    with pytest.raises(TypeError, match=rf"^{param} must be") as info:
        cls(**{param: value}).select(X, 2)
    assert isinstance(info.value, SubselError) and not isinstance(info.value, ValueError)


@pytest.mark.parametrize("cls, param, value", WRONG_VALUES, ids=lambda v: repr(v))
def test_wrong_value_is_a_value_error_naming_the_parameter(cls, param, value):
    X = np.random.default_rng(15).normal(size=(20, 3))
    with pytest.raises(ValueError, match=rf"^{param} must be") as info:
        cls(**{param: value}).select(X, 2)
    assert isinstance(info.value, SubselError) and not isinstance(info.value, TypeError)


def test_check_params_validates_without_data():
    with pytest.raises(InvalidValueError, match="purity"):
        ProbCoverQuery(purity=2).check_params()
    with pytest.raises(InvalidValueError, match="^first__k_neighbors must be"):
        ThenQuery(TypiClustQuery(k_neighbors=0), FeatureNormQuery()).check_params()
    with pytest.raises(InvalidTypeError, match="^then__norm must be"):
        ThenQuery(TypiClustQuery(), FeatureNormQuery(norm=2)).check_params()
    get_strategy("probcover_then_gs", n_classes=10, factor=1.5).check_params()


# -- combinations: a parameter both parts accept -------------------------------------


@pytest.mark.parametrize(
    "name, param, value",
    [("gram_schmidt_then_norm", "norm", "l1"), ("feature_norm_then_gs", "randomized", False)],
)
def test_ambiguous_combination_parameter_is_an_error(name, param, value):
    # Before: norm="l1" in gram_schmidt_then_norm silently went to gram_schmidt.
    with pytest.raises(InvalidTypeError, match=rf"first__{param}= or then__{param}="):
        get_strategy(name, **{param: value})


def test_prefixed_combination_parameters_route_to_their_part():
    q = get_strategy("gram_schmidt_then_norm", first__norm="l1", then__norm="linf", method="plain")
    assert q.first.norm == "l1" and q.then.norm == "linf" and q.first.method == "plain"


# -- plugins that break the contract ---------------------------------------------------


class _Repeats(QueryStrategy):
    def __init__(self, random_state=None, features=None):
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):
        return np.zeros(budget, dtype=int), np.zeros(budget)


def test_contract_breach_is_a_plugin_error_naming_the_class():
    with pytest.raises(PluginError, match=r"test_trust_core\._Repeats\._select returned a repeated index"):
        _Repeats().select(np.ones((5, 2)), 2)


def test_no_warning_on_ordinary_inputs():
    X = np.random.default_rng(16).normal(size=(100, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("feature_norm", "gram_schmidt", "typiclust", "probcover", "probcover_then_gs"):
            get_strategy(name, random_state=0).select(X, 5)


def test_fully_labeled_pool_says_so():
    X = np.random.default_rng(17).normal(size=(6, 2))
    with pytest.raises(InvalidValueError, match="every row of X is labeled"):
        FeatureNormQuery().select(X, 1, labeled=np.arange(6))


def test_fast_sampler_finishes_when_the_last_residuals_are_at_rounding_level():
    # Rank 1 in theory, rank 25 after rounding: past the first pick every bound
    # sits at its slack floor and a trial accepts about once in a thousand. That
    # is Alg. 1's law on tiny residuals, not a stuck sampler: it must finish.
    rng = np.random.default_rng(694515412)
    X = (rng.standard_normal((258, 1)) @ rng.standard_normal((1, 25))).astype(np.float32)
    q = GramSchmidtQuery(random_state=2051269790)
    idx, scores = q.select_with_scores(X, 34)
    assert np.unique(idx).size == 34
    # round 1: one real direction, then 24 rounding-level residuals; round 2 starts over
    assert scores[0] > 1e6 * scores[1:20].max() and q.restarts_ == 1
    assert q.stats_["refreshes"] > MAX_IDLE_REFRESHES  # more idle refreshes than the old guard allowed


@pytest.mark.parametrize(
    "name", ["random", "feature_norm", "gram_schmidt", "typiclust", "probcover", "typiclust_gs"]
)
def test_a_tensor_that_requires_grad_is_detached(name):
    # Issue 22: torch's own RuntimeError ("Can't call numpy() on Tensor that requires grad").
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(3).normal(size=(40, 5)).astype(np.float32)
    T = torch.tensor(X, requires_grad=True)
    np.testing.assert_array_equal(
        get_strategy(name, random_state=0).select(T, 4), get_strategy(name, random_state=0).select(X, 4)
    )


@pytest.mark.parametrize("name", ["typiclust", "gram_schmidt", "random"])
def test_a_string_x_says_it_was_taken_as_a_path(name, tmp_path, monkeypatch):
    # Issue 22: X="hello" for TypiClust said it "does not run on distributed inputs".
    from subsel_plugins.errors import MissingFileError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingFileError, match=r"^X='hello' was taken as a path .* no such file"):
        get_strategy(name).select("hello", 3)
    with pytest.raises(MissingFileError, match=r"no file matches the glob"):
        get_strategy(name).select("shards/*.npy", 3)
