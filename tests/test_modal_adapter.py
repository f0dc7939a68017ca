"""subsel strategies inside real modAL loops (modAL-python 0.4.2.1, installed --no-deps)."""

import inspect
import warnings

import numpy as np
import pytest
from modAL.models import ActiveLearner
from modAL.models import learners as modal_learners
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from subsel_plugins import (
    GramSchmidtQuery,
    available_strategies,
    get_strategy,
)
from subsel_plugins.adapters import modal

BASE_NAMES = available_strategies(combinations=False)

# Gram-Schmidt says so when a small pool runs out of directions; not a failure.
pytestmark = pytest.mark.filterwarnings("ignore:GramSchmidtQuery:RuntimeWarning")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One BLAS/OpenMP thread: KMeans and distances run several times faster on a busy 2-core machine."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    """A small pool and a held-out test set of load_digits, scaled to [0, 1]."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    perm = np.random.default_rng(0).permutation(len(X))
    pool, test = perm[:300], perm[300:800]
    return X[pool], y[pool], X[test], y[test]


def run_modal_loop(strategy, digits, rounds=5, n_instances=10):
    """Cold start, then `rounds` of query + teach; returns (learner, accuracies)."""
    X_pool, y_pool, X_test, y_test = digits
    X_pool, y_pool = X_pool.copy(), y_pool.copy()
    learner = ActiveLearner(estimator=LogisticRegression(max_iter=500), query_strategy=strategy)
    assert learner.X_training is None  # cold start: nothing labeled yet
    accuracies = []
    for _ in range(rounds):
        n_before = len(X_pool)
        idx, rows = learner.query(X_pool, n_instances=n_instances)
        idx = np.asarray(idx)
        assert idx.shape == (n_instances,)
        assert np.issubdtype(idx.dtype, np.integer)
        assert np.unique(idx).size == n_instances, "indices must be distinct"
        assert idx.min() >= 0 and idx.max() < n_before
        np.testing.assert_array_equal(rows, X_pool[idx])
        learner.teach(X_pool[idx], y_pool[idx])
        # the usual modAL idiom: labeled rows leave the pool
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
        accuracies.append(learner.score(X_test, y_test))
    assert len(learner.X_training) == rounds * n_instances
    return learner, accuracies


# --- the compatibility fix --------------------------------------------------------


def test_patch_applied_exactly_when_sklearn_lacks_force_all_finite():
    from sklearn.utils import check_X_y

    lacks = "force_all_finite" not in inspect.signature(check_X_y).parameters
    assert modal.needs_check_X_y_patch() is lacks
    wrapped = getattr(modal_learners.check_X_y, "_subsel_compat_wrapped", None)
    if lacks:
        # applied on import; the wrapper calls scikit-learn's own function
        assert wrapped is check_X_y
    else:
        assert wrapped is None
        assert modal_learners.check_X_y is check_X_y


def test_patch_is_idempotent():
    first = modal_learners.check_X_y
    assert modal.patch_modal_check_X_y() is modal.needs_check_X_y_patch()
    assert modal.patch_modal_check_X_y() is modal.needs_check_X_y_patch()
    assert modal_learners.check_X_y is first  # never wrapped twice


def test_patch_leaves_sklearn_itself_alone():
    import sklearn.utils

    assert not hasattr(sklearn.utils.check_X_y, "_subsel_compat_wrapped")


def test_teach_fit_and_only_new_work(digits):
    X, y = digits[0][:40], digits[1][:40]
    learner = ActiveLearner(estimator=LogisticRegression(max_iter=500), query_strategy=GramSchmidtQuery())
    learner.teach(X[:20], y[:20])
    learner.teach(X[20:30], y[20:30], only_new=True)
    learner.fit(X, y)
    assert len(learner.X_training) == 40
    assert learner.score(X, y) > 0.5


def test_force_all_finite_keeps_its_meaning(digits):
    """True still rejects NaN, False still lets it through to the estimator."""
    X, y = digits[0][:20].copy(), digits[1][:20]
    X[3, 5] = np.nan
    strict = ActiveLearner(estimator=LogisticRegression(), query_strategy=GramSchmidtQuery())
    with pytest.raises(ValueError, match="NaN"):
        strict.teach(X, y)
    assert strict.X_training is None  # rejected before anything was stored

    lenient = ActiveLearner(
        estimator=LogisticRegression(), query_strategy=GramSchmidtQuery(), force_all_finite=False
    )
    # the check passes; LogisticRegression itself then refuses NaN, which
    # proves the data reached the estimator
    with pytest.raises(ValueError, match="NaN"):
        lenient.teach(X, y)
    assert lenient.X_training is not None and len(lenient.X_training) == 20


def test_wrapper_translates_argument():
    from sklearn.utils import check_X_y

    wrapper = modal._compat_check_X_y(check_X_y)
    X = np.array([[0.0, np.nan], [1.0, 2.0]])
    wrapper(X, [0, 1], force_all_finite="allow-nan")
    wrapper(X, [0, 1], force_all_finite=False)
    with pytest.raises(ValueError, match="NaN"):
        wrapper(X, [0, 1], force_all_finite=True)
    with pytest.raises(TypeError, match="only one"):
        wrapper(X, [0, 1], force_all_finite=True, ensure_all_finite=True)


# --- the modAL protocol ---------------------------------------------------------


def _loop_params():
    """Every registered name; the clustering-based ones (seconds per query here) are marked slow."""
    return [
        pytest.param(n, marks=pytest.mark.slow) if ("typiclust" in n or "probcover" in n) else n
        for n in available_strategies()
    ]


@pytest.mark.parametrize("name", _loop_params())
def test_full_loop_every_registered_strategy(name, digits, record_property):
    strategy = modal.query_strategy(name, random_state=0)
    _, accuracies = run_modal_loop(strategy, digits)
    record_property("accuracy_per_round", [round(a, 4) for a in accuracies])
    print(f"{name}: accuracy after each of 5 rounds of 10: {np.round(accuracies, 3)}")
    # 50 labels of 10 digit classes: far above chance (0.1) for any sane strategy
    assert accuracies[-1] > 0.3


def test_strategy_runs_once_per_query(digits):
    """modAL's bare `except:` would re-run a strategy that returns bare indices."""
    calls = []
    strategy = GramSchmidtQuery(random_state=0)

    def counting(learner, X_pool, n_instances=1):
        calls.append(n_instances)
        return strategy(learner, X_pool, n_instances)

    learner = ActiveLearner(estimator=LogisticRegression(max_iter=500), query_strategy=counting)
    X_pool, y_pool = digits[0], digits[1]
    for round_ in range(3):
        idx, _ = learner.query(X_pool, n_instances=7)
        assert len(calls) == round_ + 1
        learner.teach(X_pool[idx], y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert calls == [7, 7, 7]


def test_return_metrics_are_the_scores(digits):
    strategy = GramSchmidtQuery(random_state=0)
    learner = ActiveLearner(estimator=LogisticRegression(), query_strategy=strategy)
    idx, rows, scores = learner.query(digits[0], n_instances=5, return_metrics=True)
    # a fresh object with the same seed: the learner's strategy has spent its first stream
    exp_idx, exp_scores = GramSchmidtQuery(random_state=0).select_with_scores(digits[0], 5)
    np.testing.assert_array_equal(idx, exp_idx)
    np.testing.assert_allclose(scores, exp_scores)


def test_failing_strategy_error_reaches_the_user(digits):
    """Documented modAL quirk: on an error modAL retries once, then the error propagates."""
    calls = []
    strategy = GramSchmidtQuery(random_state=0)

    def counting(learner, X_pool, n_instances=1):
        calls.append(n_instances)
        return strategy(learner, X_pool, n_instances)

    learner = ActiveLearner(estimator=LogisticRegression(), query_strategy=counting)
    with pytest.raises(ValueError, match="budget=500 exceeds"):
        learner.query(digits[0], n_instances=500)
    assert len(calls) == 2


@pytest.mark.parametrize("name", BASE_NAMES)
def test_x_training_is_the_labeled_set(name, digits):
    X_pool, y_pool = digits[0], digits[1]
    learner = ActiveLearner(
        estimator=LogisticRegression(max_iter=500),
        query_strategy=get_strategy(name, random_state=3),
        X_training=X_pool[:30],
        y_training=y_pool[:30],
    )
    pool = X_pool[30:]
    idx, _ = learner.query(pool, n_instances=8)
    both = np.concatenate([pool, X_pool[:30]])
    expected = get_strategy(name, random_state=3).select(both, 8, labeled=np.arange(len(pool), len(both)))
    np.testing.assert_array_equal(idx, expected)


def test_gram_schmidt_never_picks_copies_of_training_rows(digits):
    """Rows in the span of X_training have zero residual: Gram-Schmidt skips them."""
    X = digits[0]
    train = X[:20]
    copies = train[[0, 5, 11]]
    pool = np.concatenate([copies, X[100:160]])
    learner = ActiveLearner(
        estimator=LogisticRegression(max_iter=500),
        query_strategy=GramSchmidtQuery(random_state=0),
        X_training=train,
        y_training=digits[1][:20],
    )
    for seed in range(5):
        learner.query_strategy = GramSchmidtQuery(random_state=seed)
        idx, _ = learner.query(pool, n_instances=15)
        assert not np.isin(idx, [0, 1, 2]).any()


# --- features= ----------------------------------------------------------------


def _torch_embedding():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    # raw flattened 8x8 pixels -> a small random conv embedding
    return torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)),
        torch.nn.Conv2d(1, 4, kernel_size=3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
    )


def _feature_maps(X_fit):
    W = np.random.default_rng(1).normal(size=(64, 12))
    return {
        "callable": lambda X: np.asarray(X) @ W,
        "transformer": PCA(n_components=10, random_state=0).fit(X_fit),
        "torch": None,  # built lazily: torch is an optional extra
    }


@pytest.mark.parametrize("kind", ["callable", "transformer", "torch"])
@pytest.mark.parametrize("name", ["gram_schmidt", "typiclust_then_norm"])
def test_features_map_raw_inputs(kind, name, digits):
    X_pool, y_pool = digits[0], digits[1]
    fmap = _feature_maps(X_pool)[kind] if kind != "torch" else _torch_embedding()
    if kind == "torch":
        import torch

        with torch.no_grad():
            F = fmap(torch.as_tensor(X_pool, dtype=torch.float32)).numpy()
    elif kind == "transformer":
        F = fmap.transform(X_pool)
    else:
        F = fmap(X_pool)
    learner = ActiveLearner(
        estimator=LogisticRegression(max_iter=500),
        query_strategy=modal.query_strategy(name, features=fmap, random_state=0),
    )
    idx, rows = learner.query(X_pool, n_instances=10)
    np.testing.assert_array_equal(rows, X_pool[idx])  # modAL hands back raw rows
    # the same choice as selecting on the precomputed embedding
    np.testing.assert_array_equal(idx, get_strategy(name, random_state=0).select(F, 10))
    learner.teach(X_pool[idx], y_pool[idx])
    idx2, _ = learner.query(np.delete(X_pool, idx, axis=0), n_instances=5)
    assert np.unique(idx2).size == 5


def test_torch_module_in_full_loop(digits):
    strategy = modal.query_strategy("probcover_then_gs", features=_torch_embedding(), random_state=0)
    _, accuracies = run_modal_loop(strategy, digits)
    assert accuracies[-1] > 0.3


# --- names, third-party plugins -------------------------------------------------


def test_query_strategy_unknown_name():
    with pytest.raises(ValueError, match="unknown strategy 'gram_shmidt'.*gram_schmidt"):
        modal.query_strategy("gram_shmidt")


def test_query_strategy_bad_parameter():
    with pytest.raises(TypeError, match="invalid parameters for 'gram_schmidt'"):
        modal.query_strategy("gram_schmidt", delta=0.3)


@pytest.mark.parametrize(
    "name", ["test_largest_sum", "test_largest_sum_then_gs", "probcover_then_test_largest_sum"]
)
def test_third_party_strategy_registered_at_run_time(name, digits, largest_sum_plugin):
    assert name in available_strategies() or name == "probcover_then_test_largest_sum"
    strategy = modal.query_strategy(name, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        learner, accuracies = run_modal_loop(strategy, digits, rounds=3)
    if name == "test_largest_sum":
        # each round takes the pool's largest row sums: the strategy really ran
        top = np.sort(digits[0].sum(axis=1))[::-1][:30]
        np.testing.assert_allclose(np.sort(learner.X_training.sum(axis=1))[::-1], top)


def test_third_party_strategy_needs_no_adapter_code(digits, largest_sum_plugin):
    """The plugin's class itself, from the core registry, is a modAL strategy: no adapter involved."""
    strategy = get_strategy(largest_sum_plugin, random_state=0)
    learner, _ = run_modal_loop(strategy, digits, rounds=3)
    top = np.sort(digits[0].sum(axis=1))[::-1][:30]
    np.testing.assert_allclose(np.sort(learner.X_training.sum(axis=1))[::-1], top)


def test_reexports_follow_the_strategies_package():
    import subsel_plugins
    from subsel_plugins import strategies

    classes = [n for n in strategies.__all__ if n != "apply_features"]
    assert set(classes) <= set(modal.__all__) and set(classes) <= set(subsel_plugins.__all__)
    for name in classes:
        assert getattr(modal, name) is getattr(strategies, name) is getattr(subsel_plugins, name)
    assert modal.GramSchmidtQuery is GramSchmidtQuery


def test_a_committee_warns_that_the_strategy_sees_no_labeled_set(digits):
    # Issue 22: Committee.X_training is None; only a docstring said so.
    from modAL.models import Committee

    X, y = digits[0][:120], digits[1][:120]
    members = [
        ActiveLearner(estimator=LogisticRegression(max_iter=200), X_training=X[:6], y_training=y[:6])
        for _ in range(2)
    ]
    committee = Committee(learner_list=members, query_strategy=GramSchmidtQuery(random_state=0))
    with pytest.warns(modal.CommitteeWithoutLabeledSetWarning, match="sees no labeled set"):
        idx, _ = committee.query(X, n_instances=3)
    assert len(idx) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", modal.CommitteeWithoutLabeledSetWarning)
        ActiveLearner(
            estimator=LogisticRegression(max_iter=200),
            X_training=X[:6],
            y_training=y[:6],
            query_strategy=GramSchmidtQuery(random_state=0),
        ).query(X, n_instances=3)  # an ActiveLearner passes its labeled set: no warning
