"""The scikit-activeml classes generated from the registry (``adapter_for``).

Signatures equal the strategies' own, get_params/clone/pickle work, a
third-party strategy gets a working class with no adapter code (the template
checks run on it in test_skactiveml_adapter.py; here an AL loop), and the
modAL side needs no adapter code at all.
"""

import inspect
import pickle

import numpy as np
import pytest
from skactiveml.base import SingleAnnotatorPoolQueryStrategy
from skactiveml.classifier import SklearnClassifier
from skactiveml.utils import MISSING_LABEL, is_labeled, is_unlabeled
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from subsel_plugins import QueryStrategy, ThenQuery, get_strategy, hookimpl, registry, strategy_info
from subsel_plugins.adapters import skactiveml as adapters
from subsel_plugins.adapters.skactiveml import STRATEGY_CLASSES, adapter_for

pytestmark = pytest.mark.filterwarnings("ignore:GramSchmidtQuery:RuntimeWarning")

ADAPTER_OWN = ("missing_label", "random_state")


def strategy_parameters(cls, skip=("random_state",)):
    return [p for p in inspect.signature(cls).parameters.values() if p.name not in skip]


def described(params):
    return [(p.name, p.default, p.kind) for p in params]


@pytest.mark.parametrize("name", [n for n in STRATEGY_CLASSES if "_then_" not in n])
def test_builtin_signature_is_the_strategys(name):
    """The strategy's parameters, order and defaults, then missing_label and random_state."""
    cls = STRATEGY_CLASSES[name]
    got = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in got[-2:]] == list(ADAPTER_OWN)
    assert got[-2].default is MISSING_LABEL and got[-1].default is None
    assert described(got[:-2]) == described(strategy_parameters(strategy_info(name).obj))
    assert set(cls().get_params(deep=False)) == {p.name for p in got}


@pytest.mark.parametrize("name", [n for n in STRATEGY_CLASSES if "_then_" in n])
def test_builtin_combination_signature_is_factor_then_the_parts(name):
    """factor, the first part's own parameters, the second's, features, then the adapter's own."""
    first, then = registry._split_then(name)
    own = ("random_state", "features")
    expected = strategy_parameters(ThenQuery, skip=("first", "then", *own))
    for part in (first, then):
        expected += strategy_parameters(strategy_info(part).obj, skip=own)
    expected += strategy_parameters(ThenQuery, skip=("first", "then", "factor", "random_state"))
    got = list(inspect.signature(STRATEGY_CLASSES[name]).parameters.values())
    assert described(got[:-2]) == described(expected)
    assert [p.name for p in got[-2:]] == list(ADAPTER_OWN)


def test_builtin_names_are_the_generated_classes():
    assert adapters.GramSchmidt is adapter_for("gram_schmidt") is STRATEGY_CLASSES["gram_schmidt"]
    assert adapters.TypiClustSubsel.__name__ == "TypiClustSubsel"
    assert adapters.ProbCoverThenGS is adapter_for("probcover_then_gs")
    for cls in STRATEGY_CLASSES.values():
        assert issubclass(cls, SingleAnnotatorPoolQueryStrategy)
        assert cls.__name__ in adapters.__all__
        assert getattr(adapters, cls.__name__) is cls
    with pytest.raises(AttributeError, match="NoSuchClass"):
        adapters.NoSuchClass  # noqa: B018


def test_docstring_is_the_strategys_as_adapter():
    doc = adapters.GramSchmidt.__doc__
    assert doc.startswith("scikit-activeml adapter of ``gram_schmidt``: Randomized Gram-Schmidt")
    assert "method : {" in doc and "missing_label :" in doc
    assert (
        "n_classes" in adapters.ProbCoverSubsel.__doc__
        and "fixed k of 10" in adapters.ProbCoverSubsel.__doc__
    )
    doc = adapters.TypiClustThenGS.__doc__
    assert "``typiclust`` proposes" in doc and "max_clusters, k_neighbors, min_cluster_size" in doc


def test_get_params_set_params_clone_pickle():
    qs = adapters.ProbCoverThenGS(2.5, n_classes=4, random_state=3)
    assert qs.get_params()["factor"] == 2.5 and qs.n_classes == 4
    twin = clone(qs)
    assert twin.get_params(deep=False).keys() == qs.get_params(deep=False).keys()
    twin.set_params(method="plain")
    assert twin.method == "plain" and qs.method == "auto"
    assert repr(qs) == "ProbCoverThenGS(factor=2.5, n_classes=4, random_state=3)"
    again = pickle.loads(pickle.dumps(qs))
    assert type(again) is type(qs) and again.n_classes == 4
    with pytest.raises(TypeError, match="unexpected keyword argument 'delta'"):
        adapters.GramSchmidt(delta=0.3)


def test_parameters_both_parts_take_are_prefixed():
    cls = adapter_for("gram_schmidt_then_norm")
    names = list(inspect.signature(cls).parameters)
    assert {"first_norm", "then_norm", "first_randomized", "then_randomized", "method"} <= set(names)
    assert "norm" not in names
    X = np.random.default_rng(0).normal(size=(40, 5))
    y = np.full(len(X), MISSING_LABEL)
    y[:3] = 0
    qs = cls(first_norm="l1", then_randomized=False, random_state=0)
    strategy = qs._build_strategy()
    assert strategy.first.norm == "l1" and strategy.then.randomized is False
    assert strategy.then.norm == "l2"
    assert qs.query(X, y, batch_size=4).shape == (4,)


def test_unknown_and_nested_names():
    with pytest.raises(ValueError, match="unknown strategy 'gram_shmidt'"):
        adapter_for("gram_shmidt")
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        adapter_for("nope_then_gs")
    with pytest.raises(ValueError, match="itself a combination"):
        adapter_for("typiclust_then_norm_then_gs")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(X))
    return X[perm[:300]] / 16.0, y[perm[:300]]


@pytest.mark.parametrize(
    "name", ["test_largest_sum", "test_largest_sum_then_gs", "random_then_test_largest_sum"]
)
def test_third_party_class_in_an_al_loop(name, digits, largest_sum_plugin):
    cls = adapter_for(name)
    assert issubclass(cls, SingleAnnotatorPoolQueryStrategy)
    assert "random_state" in inspect.signature(cls).parameters
    assert cls.__doc__.startswith(f"scikit-activeml adapter of ``{name}``")
    X, y_true = digits
    y = np.full(len(X), MISSING_LABEL)
    qs = cls(random_state=0)
    clf = SklearnClassifier(LogisticRegression(max_iter=300), classes=np.arange(10), random_state=0)
    for _ in range(3):
        idx = qs.query(X, y, batch_size=10)
        assert np.unique(idx).size == 10 and is_unlabeled(y[idx]).all()
        y[idx] = y_true[idx]
        clf.fit(X, y)
    assert is_labeled(y).sum() == 30
    if name == "test_largest_sum":
        top = np.argsort(-X.sum(axis=1), kind="stable")[:30]
        assert set(np.flatnonzero(is_labeled(y))) == set(top)


def test_cache_follows_the_registration(largest_sum_plugin):
    first = adapter_for("test_largest_sum")
    assert adapter_for("test_largest_sum") is first
    assert adapters.LargestSum is first  # found by name, so pickle works

    class OtherQuery(QueryStrategy):
        def __init__(self, alpha=0.5, random_state=None, features=None):
            self.alpha = alpha
            self.random_state = random_state
            self.features = features

        def _select(self, X, budget, labeled, rng):
            order = np.setdiff1d(np.arange(X.shape[0]), labeled)[:budget]
            return order, np.zeros(order.size)

    class _Plugin:
        @hookimpl
        def subsel_register_strategies(self, register):
            register("test_other_sum", OtherQuery)

    name = registry.register_plugin(_Plugin(), name="test-generated-other")
    try:
        cls = adapter_for("test_other_sum")
        assert list(inspect.signature(cls).parameters) == ["alpha", "features", *ADAPTER_OWN]
        assert cls().alpha == 0.5
        assert isinstance(get_strategy("test_other_sum"), OtherQuery)
    finally:
        registry.unregister_plugin(name)
    with pytest.raises(ValueError, match="unknown strategy"):
        cls().query(np.eye(4), np.full(4, MISSING_LABEL))
