"""subsel strategies as scikit-activeml query strategies (scikit-activeml 1.0.1).

The checks of scikit-activeml's own query-strategy test template (not shipped
in its wheel), written for pytest and run over every adapter class (a
third-party plugin's generated class included), then AL
loops with a real ``SklearnClassifier(LogisticRegression())`` over every
registered strategy.
"""

import functools
import inspect
import math
import warnings

import numpy as np
import pytest
from skactiveml.base import SingleAnnotatorPoolQueryStrategy
from skactiveml.classifier import SklearnClassifier
from skactiveml.pool import ProbCover, TypiClust
from skactiveml.utils import MISSING_LABEL, is_labeled, is_unlabeled, unlabeled_indices
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from subsel_plugins import (
    GramSchmidtQuery,
    QueryStrategy,
    ThenQuery,
    available_strategies,
    get_strategy,
    hookimpl,
)
from subsel_plugins.adapters import skactiveml as adapters
from subsel_plugins.adapters.skactiveml import (
    STRATEGY_CLASSES,
    GramSchmidt,
    RandomSubsel,
    SkactivemlQuery,
    SubselQueryStrategy,
    adapter_for,
)
from subsel_plugins.errors import SubselError
from subsel_plugins.registry import register_plugin, unregister_plugin

pytestmark = pytest.mark.filterwarnings("ignore:GramSchmidtQuery:RuntimeWarning")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One BLAS/OpenMP thread: KMeans and distances run several times faster on a busy 2-core machine."""
    with threadpool_limits(limits=1):
        yield


# every adapter class, and the generic one for a base name and a combination
FACTORIES = {cls.__name__: cls for cls in STRATEGY_CLASSES.values()}
FACTORIES["SubselQueryStrategy(gram_schmidt)"] = SubselQueryStrategy
FACTORIES["SubselQueryStrategy(typiclust_then_gs)"] = functools.partial(
    SubselQueryStrategy, strategy="typiclust_then_gs"
)
# a third-party strategy's generated class (and a combination of it) runs the same checks
THIRD_PARTY = {
    "adapter_for(test_largest_sum)": "test_largest_sum",
    "adapter_for(test_largest_sum_then_gs)": "test_largest_sum_then_gs",
}
CLASS_IDS = list(FACTORIES) + list(THIRD_PARTY)


class Dummy:
    """A value of no sensible type (as in scikit-activeml's template)."""


def make_data(n=30, d=6, n_labeled=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(3, d))
    y_true = np.arange(n) % 3
    X = centers[y_true] + rng.normal(size=(n, d))
    y = np.full(n, MISSING_LABEL)
    y[:n_labeled] = y_true[:n_labeled]
    return X, y, y_true


@pytest.fixture(params=CLASS_IDS)
def factory(request):
    if request.param in THIRD_PARTY:
        request.getfixturevalue("largest_sum_plugin")  # registered for this test only
        return adapter_for(THIRD_PARTY[request.param])
    return FACTORIES[request.param]


def same_params(a, b):
    """get_params dicts equal, nan (the default missing_label) equal to itself."""
    return a.keys() == b.keys() and all(
        a[k] is b[k] or a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a
    )


# --- the template's parameter checks ------------------------------------------------


def test_is_a_single_annotator_pool_strategy(factory):
    qs = factory()
    assert isinstance(qs, SingleAnnotatorPoolQueryStrategy)
    params = inspect.signature(type(qs).query).parameters
    assert list(params) == ["self", "X", "y", "candidates", "batch_size", "return_utilities"]
    assert params["candidates"].default is None
    assert params["batch_size"].default == 1
    assert params["return_utilities"].default is False


def test_init_only_stores_parameters(factory):
    """Each __init__ argument is stored unchanged and unvalidated (template: init_param_test_assignments)."""
    names = [p for p in factory().get_params(deep=False)]
    for name in names:
        sentinel = Dummy()
        qs = factory(**{name: sentinel})
        assert getattr(qs, name) is sentinel


def test_clone_and_params(factory):
    qs = factory(random_state=3)
    twin = clone(qs)
    assert twin is not qs
    assert same_params(twin.get_params(deep=False), qs.get_params(deep=False))
    X, y, _ = make_data()
    np.testing.assert_array_equal(qs.query(X, y, batch_size=3), twin.query(X, y, batch_size=3))
    repr(qs)


@pytest.mark.parametrize(
    "value, error", [(np.nan, ValueError), ("state", ValueError), (1, None), (np.random.RandomState(2), None)]
)
def test_init_param_random_state(factory, value, error):
    X, y, _ = make_data()
    qs = factory(random_state=value)
    if error is None:
        qs.query(X, y)
    else:
        with pytest.raises(error):
            qs.query(X, y)


@pytest.mark.parametrize(
    "missing_label, classes, dtype",
    [
        (np.nan, [1.0, 2.0], float),
        (0, [1, 2], int),
        (None, [1, 2], object),
        (None, ["A", "B"], object),
        ("", ["A", "B"], str),
    ],
)
def test_init_param_missing_label(factory, missing_label, classes, dtype):
    X, y, _ = make_data()
    y = np.full(len(X), missing_label, dtype=dtype)
    y[0], y[1] = classes[0], classes[1]
    qs = factory(missing_label=missing_label, random_state=0)
    idx, utils = qs.query(X, y, batch_size=3, return_utilities=True)
    assert not np.isin(idx, [0, 1]).any()
    assert np.isnan(utils[:, :2]).all()


def test_init_param_missing_label_wrong_type(factory):
    X, y, _ = make_data()
    with pytest.raises(TypeError):
        factory(missing_label=Dummy).query(X, y)


def test_query_param_X(factory):
    X, y, _ = make_data()
    for bad in ("string", Dummy):
        with pytest.raises((ValueError, TypeError)):
            factory(random_state=0).query(bad, y)
    with pytest.raises(ValueError):
        factory(random_state=0).query(np.vstack([X, X]), y)


def test_query_param_y(factory):
    X, y, _ = make_data()
    for bad in (np.nan, Dummy):
        with pytest.raises(TypeError):
            factory(random_state=0).query(X, bad)
    with pytest.raises(ValueError):
        factory(random_state=0).query(X, np.vstack([y, y]))


def test_query_param_candidates(factory):
    X, y, _ = make_data()
    with pytest.raises(ValueError):
        factory(random_state=0).query(X, y, candidates=np.nan)
    with pytest.raises(TypeError):
        factory(random_state=0).query(X, y, candidates=Dummy)
    first = unlabeled_indices(y)[0]
    np.testing.assert_array_equal(factory(random_state=0).query(X, y, candidates=[first]), [first])


@pytest.mark.parametrize("value, error", [(0, ValueError), (1.2, TypeError), (1, None)])
def test_query_param_batch_size(factory, value, error):
    X, y, _ = make_data()
    if error is None:
        assert factory(random_state=0).query(X, y, batch_size=value).shape == (value,)
    else:
        with pytest.raises(error):
            factory(random_state=0).query(X, y, batch_size=value)


@pytest.mark.parametrize("value, error", [("string", TypeError), (Dummy, TypeError), (True, None)])
def test_query_param_return_utilities(factory, value, error):
    X, y, _ = make_data()
    if error is None:
        idx, utils = factory(random_state=0).query(X, y, return_utilities=value)
        assert utils.shape == (1, len(X))
    else:
        with pytest.raises(error):
            factory(random_state=0).query(X, y, return_utilities=value)


# bad values for each strategy parameter: the error names the parameter
BAD_VALUES = {
    "norm": "l3",
    "randomized": "yes",
    "method": "quantum",
    "max_clusters": 0,
    "k_neighbors": 0,
    "min_cluster_size": -1,
    "delta": 3.0,
    "purity": 1.5,
    "n_classes": 1,
    "factor": 0.5,
    "features": 42,
    "exhausted": "sometimes",
    "center": "yes",
    "alpha": -1.0,
    "approximate": "sometimes",
    "max_graph_memory": "lots",
}


def test_query_rejects_bad_strategy_parameters(factory):
    X, y, _ = make_data()
    names = set(factory().get_params(deep=False)) - {"missing_label", "random_state", "strategy"}
    for name in sorted(names):
        qs = factory(random_state=0, **{name: BAD_VALUES[name]})
        with pytest.raises((ValueError, TypeError), match=name):
            qs.query(X, y, batch_size=2)


# --- the template's behaviour checks ---------------------------------------------


def test_query_reproducibility(factory):
    """Same random_state object, same result; the user's RandomState is never advanced."""
    X, y, _ = make_data()
    rs = np.random.RandomState(0)
    state = rs.get_state()[1].copy()
    qs = factory(random_state=rs)
    id1, u1 = qs.query(X, y, batch_size=4, return_utilities=True)
    id2, u2 = qs.query(X, y, batch_size=4, return_utilities=True)
    assert len(u1[0]) == len(X)
    np.testing.assert_array_equal(id1, id2)
    np.testing.assert_allclose(u1, u2)
    np.testing.assert_array_equal(rs.get_state()[1], state)
    np.testing.assert_array_equal(
        factory(random_state=0).query(X, y, batch_size=4), factory(random_state=0).query(X, y, batch_size=4)
    )


def test_query_batch_variation(factory):
    X, y, _ = make_data()
    qs = factory(random_state=0)
    max_batch = int(is_unlabeled(y).sum())
    batch = min(5, max_batch)
    ids, utils = qs.query(X, y, batch_size=batch, return_utilities=True)
    assert len(ids) == batch and np.unique(ids).size == batch
    assert utils.shape == (batch, len(X))
    assert np.isnan(utils[0]).sum() == is_labeled(y).sum()
    for b in range(batch):
        # row b: labeled and earlier picks are nan, and picks ids[b]
        assert np.isnan(utils[b, is_labeled(y)]).all()
        assert np.isnan(utils[b, ids[:b]]).all()
        assert np.nanargmax(utils[b]) == ids[b]
    with pytest.warns(Warning, match="batch_size"):
        qs.query(X, y, batch_size=max_batch + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = qs.query(X, y, batch_size=max_batch + 1)
    assert len(ids) == max_batch
    assert set(ids) == set(unlabeled_indices(y))


def test_query_candidate_variation(factory):
    X, y, _ = make_data()
    qs = factory(random_state=0)
    id1, u1 = qs.query(X, y, candidates=None, batch_size=3, return_utilities=True)
    unld = unlabeled_indices(y)
    id2, u2 = qs.query(X, y, candidates=unld, batch_size=3, return_utilities=True)
    np.testing.assert_array_equal(id1, id2)
    np.testing.assert_allclose(u1, u2)

    id3, u3 = qs.query(X, y, candidates=unld[:1], return_utilities=True)
    expected = np.full_like(u3, np.nan)
    expected[0, unld[:1]] = u3[0, unld[:1]]
    np.testing.assert_allclose(u3, expected)
    assert not np.isnan(u3[0, unld[0]])

    # 2-D candidates: the samples themselves; indices refer to them
    id4, u4 = qs.query(X, y, candidates=X[unld], batch_size=3, return_utilities=True)
    assert u4.shape == (3, len(unld))
    np.testing.assert_allclose(u1[0][unld], u4[0])
    np.testing.assert_array_equal(unld[id4], id1)


def test_query_al_cycles_with_classifier(factory):
    """Several AL cycles from cold start, 1 label and all-but-one labeled, with a real classifier."""
    X, _, y_true = make_data(n=36)
    for init_labels in (0, 1, len(X) - 2):
        qs = factory(random_state=0)
        y = np.full(len(X), MISSING_LABEL)
        y[:init_labels] = y_true[:init_labels]
        clf = SklearnClassifier(LogisticRegression(), classes=[0, 1, 2], random_state=0)
        for _ in range(3):
            if not is_unlabeled(y).any():
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # batch shrinks at the end of the pool
                idx = qs.query(X, y, batch_size=2)
            assert is_unlabeled(y[idx]).all()
            y[idx] = y_true[idx]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # one class so far: it predicts the prior
                clf.fit(X, y)
                assert clf.predict(X).shape == (len(X),)


# --- conventions beyond the template ----------------------------------------------


def test_random_state_differs_across_al_cycles():
    X, y, _ = make_data(n=200, d=4, n_labeled=3)
    qs = RandomSubsel(random_state=0)
    first = qs.query(X, y, batch_size=5)
    draw_first = qs.random_state_.randint(2**31)
    y2 = y.copy()
    y2[first[0]] = 0  # the next AL cycle: one more label
    qs.query(X, y2, batch_size=5)
    assert qs.random_state_.randint(2**31) != draw_first
    # and the first cycle again: the same seed and picks
    np.testing.assert_array_equal(qs.query(X, y, batch_size=5), first)
    assert qs.random_state_.randint(2**31) == draw_first


def test_random_state_none_uses_numpy_global_state():
    X, y, _ = make_data(n=200, d=4)
    np.random.seed(5)  # noqa: NPY002 (their convention: None means the global state)
    a = RandomSubsel().query(X, y, batch_size=5)
    np.random.seed(5)  # noqa: NPY002 (their convention: None means the global state)
    b = RandomSubsel().query(X, y, batch_size=5)
    np.testing.assert_array_equal(a, b)


def test_labeled_candidates_are_never_chosen():
    X, y, _ = make_data()
    labeled = np.flatnonzero(is_labeled(y))
    cand = np.concatenate([labeled[:3], unlabeled_indices(y)[:4]])
    idx, utils = GramSchmidt(random_state=0).query(X, y, candidates=cand, batch_size=4, return_utilities=True)
    assert set(idx) == set(unlabeled_indices(y)[:4])
    assert np.isnan(utils[:, labeled]).all()
    with pytest.warns(UserWarning, match="unlabeled candidates"):
        idx = GramSchmidt(random_state=0).query(X, y, candidates=cand, batch_size=6)
    assert len(idx) == 4


def test_labeled_rows_shape_the_choice_with_new_samples_as_candidates():
    """Candidates that are copies of labeled rows lie in their span: Gram-Schmidt skips them."""
    X, y, _ = make_data(n=40, d=10, n_labeled=4)
    labeled = np.flatnonzero(is_labeled(y))
    new = np.random.default_rng(3).normal(size=(20, 10))
    cand = np.concatenate([X[labeled[:2]], new])
    for seed in range(5):
        idx = GramSchmidt(random_state=seed).query(X, y, candidates=cand, batch_size=5)
        assert (idx >= 2).all() and idx.max() < len(cand)


def test_features_map_raw_images():
    """features= lets skactiveml users query raw images on embeddings (callable, transformer, torch)."""
    torch = pytest.importorskip("torch")
    images, labels = load_digits(return_X_y=True)
    images = (images[:120] / 16.0).reshape(-1, 8, 8).astype(np.float32)
    y = np.full(len(images), MISSING_LABEL)
    y[:5] = labels[:5]
    flat = images.reshape(len(images), -1)
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.Conv2d(1, 3, 3), torch.nn.Flatten()
    )
    pca = PCA(n_components=8, random_state=0).fit(flat)
    with torch.no_grad():
        torch_F = module(torch.as_tensor(flat)).numpy()
    maps = {
        "callable": (lambda X: np.asarray(X).reshape(len(X), -1), flat),
        "transformer": (pca, pca.transform(flat)),
        "torch": (module, torch_F),
    }
    for kind, (fmap, F) in maps.items():
        X_in = images if kind == "callable" else flat
        got = GramSchmidt(features=fmap, random_state=0).query(X_in, y, batch_size=6)
        want = GramSchmidt(random_state=0).query(F, y, batch_size=6)
        np.testing.assert_array_equal(got, want, err_msg=kind)


def test_generic_strategy_errors():
    X, y, _ = make_data()
    with pytest.raises(ValueError, match="unknown strategy 'gram_shmidt'"):
        SubselQueryStrategy("gram_shmidt").query(X, y)
    with pytest.raises(TypeError, match="strategy must be the name"):
        SubselQueryStrategy(GramSchmidtQuery()).query(X, y)
    with pytest.raises(TypeError, match="delta"):
        SubselQueryStrategy("gram_schmidt", delta=0.3).query(X, y)
    with pytest.raises(TypeError, match="clashes"):
        SubselQueryStrategy("gram_schmidt", query=1)


def test_generic_strategy_params_clone_and_set():
    qs = SubselQueryStrategy("probcover_then_gs", n_classes=3, factor=3, random_state=0)
    assert qs.get_params(deep=False)["n_classes"] == 3
    twin = clone(qs)
    assert twin.n_classes == 3 and twin.factor == 3 and twin.strategy == "probcover_then_gs"
    twin.set_params(factor=2)
    assert twin.factor == 2 and qs.factor == 3
    assert "factor=3" in repr(qs)
    X, y, _ = make_data()
    np.testing.assert_array_equal(
        qs.query(X, y, batch_size=3),
        STRATEGY_CLASSES["probcover_then_gs"](n_classes=3, factor=3, random_state=0).query(
            X, y, batch_size=3
        ),
    )


def test_adapter_matches_select_on_the_same_rows():
    """The adapter is select() on [candidates, labeled] with a seed from random_state_."""
    X, y, _ = make_data()
    qs = GramSchmidt(random_state=7)
    idx = qs.query(X, y, batch_size=4)
    unld, lab = unlabeled_indices(y), np.flatnonzero(is_labeled(y))
    seed = np.random.RandomState(7)
    seed = np.random.RandomState((seed.randint(1, 2**31) * (len(unld) + 1)) % (2**31)).randint(0, 2**31 - 1)
    rows = np.concatenate([unld, lab])
    expected = rows[
        GramSchmidtQuery(random_state=int(seed)).select(X[rows], 4, np.arange(len(unld), len(rows)))
    ]
    np.testing.assert_array_equal(idx, expected)


def test_every_builtin_has_a_class():
    base = {"random", "feature_norm", "gram_schmidt", "typiclust", "probcover"}
    assert base <= set(STRATEGY_CLASSES)
    for first in ("typiclust", "probcover"):
        for second in ("norm", "gs", "random"):
            assert f"{first}_then_{second}" in STRATEGY_CLASSES
    for name, cls in STRATEGY_CLASSES.items():
        assert name in available_strategies()
        assert cls.__name__ in adapters.__all__
        # the class takes exactly the strategy's own parameters, plus missing_label
        strategy_params = set(get_strategy(name).get_params(deep=False)) - {"first", "then"}
        if "_then_" in name:
            strategy_params |= {
                k.split("__", 1)[1]
                for k in get_strategy(name).get_params(deep=True)
                if "__" in k and not k.endswith(("__random_state", "__features"))
            }
        assert set(cls().get_params(deep=False)) == strategy_params | {"missing_label"}
        # and the same defaults as the strategy itself
        core = get_strategy(name).get_params(deep=True)
        for key, value in cls().get_params(deep=False).items():
            if key != "missing_label":
                matches = [v for k, v in core.items() if k == key or k.endswith(f"__{key}")]
                assert matches and all(v == value for v in matches), (name, key, value, matches)


# --- full AL loops over every registered strategy ------------------------------------


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    perm = np.random.default_rng(0).permutation(len(X))
    return X[perm[:300]], y[perm[:300]], X[perm[300:800]], y[perm[300:800]]


def run_skactiveml_loop(qs, digits, cycles=5, batch_size=10):
    X, y_true, X_test, y_test = digits
    y = np.full(len(X), MISSING_LABEL)
    clf = SklearnClassifier(LogisticRegression(max_iter=500), classes=np.arange(10), random_state=0)
    accuracies = []
    for _ in range(cycles):
        idx = qs.query(X, y, batch_size=batch_size)
        assert idx.shape == (batch_size,) and np.unique(idx).size == batch_size
        assert is_unlabeled(y[idx]).all()
        y[idx] = y_true[idx]
        clf.fit(X, y)
        accuracies.append(clf.score(X_test, y_test))
    assert is_labeled(y).sum() == cycles * batch_size
    return accuracies


def _loop_params():
    """Every registered name; the clustering-based ones (seconds per query here) are marked slow."""
    return [
        pytest.param(n, marks=pytest.mark.slow) if ("typiclust" in n or "probcover" in n) else n
        for n in available_strategies()
    ]


@pytest.mark.parametrize("name", _loop_params())
def test_full_loop_every_registered_strategy(name, digits, record_property):
    qs = STRATEGY_CLASSES.get(name, lambda **kw: SubselQueryStrategy(name, **kw))(random_state=0)
    accuracies = run_skactiveml_loop(qs, digits)
    record_property("accuracy_per_cycle", [round(a, 4) for a in accuracies])
    print(f"{name}: accuracy after each of 5 cycles of 10: {np.round(accuracies, 3)}")
    assert accuracies[-1] > 0.3


# --- third-party plugins --------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["test_largest_sum", "test_largest_sum_then_gs", "typiclust_then_test_largest_sum"]
)
def test_third_party_strategy_registered_at_run_time(name, digits, largest_sum_plugin):
    qs = SubselQueryStrategy(name, random_state=0)
    run_skactiveml_loop(qs, digits, cycles=3)
    if name == "test_largest_sum":
        X = digits[0]
        y = np.full(len(X), MISSING_LABEL)
        y[:5] = 0
        idx = qs.query(X, y, batch_size=8)
        sums = X.sum(axis=1)
        sums[:5] = -np.inf
        np.testing.assert_allclose(np.sort(X[idx].sum(axis=1)), np.sort(sums)[-8:])


@pytest.mark.parametrize(
    "name", ["test_largest_sum", "test_largest_sum_then_gs", "typiclust_then_test_largest_sum"]
)
def test_unregistered_third_party_strategy_is_unknown(name):
    with pytest.raises(ValueError, match="unknown strategy"):
        SubselQueryStrategy(name).query(*make_data()[:2])


# --- interop: scikit-activeml's strategies as `first` of a ThenQuery -------------------


@pytest.fixture(scope="module")
def embedded():
    X, y = load_digits(return_X_y=True)
    return PCA(n_components=16, random_state=0).fit_transform(X[:250] / 16.0), y[:250]


@pytest.mark.parametrize("skactiveml_cls", [TypiClust, ProbCover])
def test_skactiveml_strategy_as_first_of_then_query(skactiveml_cls, embedded):
    X, _ = embedded
    params = {"n_classes": 10} if skactiveml_cls is ProbCover else {}
    first = SkactivemlQuery(skactiveml_cls(random_state=1, **params))
    budget = 10
    proposals = first.select(X, math.ceil(2 * budget))
    q = ThenQuery(first, GramSchmidtQuery(random_state=0))
    picks = q.select(X, budget)
    assert picks.shape == (budget,) and np.unique(picks).size == budget
    # the skactiveml strategy proposed, Gram-Schmidt chose among its proposals
    assert set(picks) <= set(proposals)

    labeled = np.arange(5)
    picks = q.select(X, budget, labeled=labeled)
    assert not np.isin(picks, labeled).any()
    assert set(picks) <= set(first.select(X, 2 * budget, labeled=labeled))

    # seeded by the ThenQuery: reproducible
    def seeded():
        return ThenQuery(SkactivemlQuery(skactiveml_cls(**params)), GramSchmidtQuery(), random_state=4)

    np.testing.assert_array_equal(seeded().select(X, budget), seeded().select(X, budget))


def test_skactiveml_wrapper_matches_skactiveml(embedded):
    X, _ = embedded
    y = np.full(len(X), np.nan)
    y[:4] = 0
    idx = SkactivemlQuery(TypiClust(random_state=2)).select(X, 6, labeled=np.arange(4))
    np.testing.assert_array_equal(idx, TypiClust(random_state=2).query(X, y, batch_size=6))


def test_skactiveml_wrapper_rejects_other_objects(embedded):
    with pytest.raises(TypeError, match="query_strategy must be a scikit-activeml"):
        SkactivemlQuery(GramSchmidtQuery()).select(embedded[0], 3)


def test_skactiveml_wrapper_in_our_adapter_loop(digits):
    """Round trip: skactiveml's ProbCover then GS, used back inside scikit-activeml."""
    then = ThenQuery(SkactivemlQuery(ProbCover(n_classes=10)), GramSchmidtQuery())

    class ProbCoverThenGSViaSkactiveml(QueryStrategy):
        def __init__(self, random_state=None, features=None):
            self.random_state = random_state
            self.features = features

        def _select(self, X, budget, labeled, rng):
            return (
                clone(then)
                .set_params(random_state=int(rng.integers(2**31)))
                .select_with_scores(X, budget, labeled)
            )

    class _Plugin:
        @hookimpl
        def subsel_register_strategies(self, register):
            register("test_skactiveml_probcover_gs", ProbCoverThenGSViaSkactiveml)

    plugin = register_plugin(_Plugin(), name="test-skactiveml-roundtrip")
    try:
        run_skactiveml_loop(SubselQueryStrategy("test_skactiveml_probcover_gs", random_state=0), digits, 3)
    finally:
        unregister_plugin(plugin)


# --- the adapter's own checks of query's arguments (issue 22): no silent wrong rows, and
# every error names the argument, the value and what was expected


def _bad_queries():
    X, y, _ = make_data()
    nan_X = X.copy()
    nan_X[4, 1] = np.nan
    return {
        "negative index": (
            dict(candidates=[-1, 10]),
            ValueError,
            r"^candidates holds index -1, out of range",
        ),
        "fractional index": (
            dict(candidates=[10.0, 11.5]),
            TypeError,
            r"^candidates must hold integer row indices",
        ),
        "index past the end": (dict(candidates=[5, len(X)]), ValueError, r"^candidates holds index 30"),
        "empty": (dict(candidates=[]), ValueError, r"^candidates is empty"),
        "wrong width": (dict(candidates=np.ones((3, X.shape[1] + 1))), ValueError, r"^candidates as samples"),
        "NaN sample": (
            dict(candidates=np.full((3, X.shape[1]), np.nan)),
            ValueError,
            r"^candidates contains NaN",
        ),
        "NaN index": (dict(candidates=[np.nan, 3.0]), ValueError, r"^candidates holds NaN"),
        "repeated index": (dict(candidates=[7, 7]), ValueError, r"^candidates repeats index 7"),
        "short mask": (
            dict(candidates=[True, False]),
            TypeError,
            r"^candidates must hold integer row indices",
        ),
        "batch 0": (dict(batch_size=0), ValueError, r"^batch_size must be an integer >= 1; got 0"),
        "batch -1": (dict(batch_size=-1), ValueError, r"^batch_size must be an integer >= 1; got -1"),
        "batch float": (dict(batch_size=2.5), TypeError, r"^batch_size must be an integer; got 2.5"),
        "batch str": (dict(batch_size="2"), TypeError, r"^batch_size must be an integer; got '2'"),
        "NaN in X": (dict(X=nan_X), ValueError, r"^X contains NaN or infinity \(first at row 4\)"),
        "short y": (dict(y=y[:20]), ValueError, r"^y must have shape \(30,\).*got shape \(20,\)"),
    }


@pytest.mark.parametrize("name", ["feature_norm", "probcover", "gram_schmidt"])
@pytest.mark.parametrize("case", list(_bad_queries()))
def test_bad_query_arguments_get_the_adapters_own_error(name, case):
    X, y, _ = make_data()
    kw, error, match = _bad_queries()[case]
    X, y = kw.pop("X", X), kw.pop("y", y)
    with pytest.raises(error, match=match) as info:
        adapter_for(name)(random_state=0).query(X, y, **kw)
    assert isinstance(info.value, SubselError)


def test_whole_float_indices_and_a_full_mask_are_read_as_rows():
    X, y, _ = make_data()
    unl = unlabeled_indices(y)[:4]
    mask = np.zeros(len(X), dtype=bool)
    mask[unl] = True
    qs = adapter_for("feature_norm")
    want = qs(random_state=0).query(X, y, candidates=unl, batch_size=2)
    assert set(want) <= set(unl)
    np.testing.assert_array_equal(
        qs(random_state=0).query(X, y, candidates=unl.astype(float), batch_size=2), want
    )
    np.testing.assert_array_equal(qs(random_state=0).query(X, y, candidates=mask, batch_size=2), want)
    np.testing.assert_array_equal(
        qs(random_state=0).query(X, y, candidates=unl, batch_size=np.int64(2)), want
    )
