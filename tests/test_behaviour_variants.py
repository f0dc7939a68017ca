"""Behaviour of the coverage-keeping variants: which member of each TypiClust cluster they take.

The pools here have well separated groups (so k-means finds them) and rows
planted so that typicality alone, the norm alone, typicality x norm, the
residual and the centred norm each pick a different member: a variant that
uses the wrong rule picks a different row.
"""

import numpy as np
import pytest

from subsel_plugins import (
    CenteredGramSchmidtQuery,
    GramSchmidtQuery,
    TypiClustGSQuery,
    TypiClustNormQuery,
    get_strategy,
)
from subsel_plugins.errors import InvalidTypeError, InvalidValueError
from subsel_plugins.kernels import unit_rows_float32
from subsel_plugins.strategies._typiclust import typicality

#: Group directions about 25 degrees apart: separable clusters, far from orthogonal residuals.
DIRECTIONS = np.array([[1.0, 0.0, 0.0, 0.0], [0.906, 0.423, 0.0, 0.0], [0.85, 0.25, 0.46, 0.0]])
SIZES = (30, 22, 14)  # TypiClust visits the largest cluster first


def grouped_pool(seed=3, directions=DIRECTIONS, sizes=SIZES, noise=0.06):
    """Rows near each direction with norms in [1.8, 2.2]; per group a far-out member of norm 4
    (row 0 of the group) and a central one of norm 1 (row 1)."""
    rng = np.random.default_rng(seed)
    rows, groups = [], []
    for g, (direction, size) in enumerate(zip(directions, sizes)):
        direction = direction / np.linalg.norm(direction)
        U = direction + rng.normal(scale=noise, size=(size, direction.size))
        U[0] += rng.normal(scale=2 * noise, size=direction.size)
        U[1] = direction
        norms = rng.uniform(1.8, 2.2, size)
        norms[0], norms[1] = 4.0, 1.0
        rows.append(U / np.linalg.norm(U, axis=1, keepdims=True) * norms[:, None])
        groups.append(np.arange(size) + sum(sizes[:g]))
    return np.vstack(rows), groups


def typ_of(X, members):
    return typicality(unit_rows_float32(X)[members], min(20, members.size // 2))


def residual_norms(rows, basis_rows):
    if len(basis_rows) == 0:
        return np.linalg.norm(rows, axis=1)
    B = np.asarray(basis_rows).T
    coef, *_ = np.linalg.lstsq(B, rows.T, rcond=None)
    return np.linalg.norm(rows - (B @ coef).T, axis=1)


X, GROUPS = grouped_pool()


def best(members, score):
    return int(members[np.argmax(score)])


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.5])
def test_norm_variant_takes_the_largest_typicality_power_times_norm(alpha):
    picks, scores = TypiClustNormQuery(alpha=alpha, random_state=0).select_with_scores(X, 3)
    norms = np.linalg.norm(X, axis=1)
    expected = [best(m, typ_of(X, m) ** alpha * norms[m]) for m in GROUPS]
    np.testing.assert_array_equal(picks, expected)
    # the score: (typicality relative to the cluster's most typical) ** alpha x norm
    rel = [typ_of(X, m)[m == p][0] / typ_of(X, m).max() for m, p in zip(GROUPS, picks)]
    np.testing.assert_allclose(scores, np.array(rel) ** alpha * norms[picks], rtol=1e-6)


def test_the_rules_differ_on_this_pool():
    """The guard of these tests: each in-cluster rule picks a different subset of this pool."""
    norms = np.linalg.norm(X, axis=1)
    subsets = [
        [best(m, typ_of(X, m)) for m in GROUPS],  # TypiClust
        [best(m, norms[m]) for m in GROUPS],
        [best(m, typ_of(X, m) * norms[m]) for m in GROUPS],
        gs_expected(X, GROUPS, 1.0),
    ]
    assert len({tuple(s) for s in subsets}) == len(subsets), subsets
    assert subsets[1][0] == GROUPS[0][0]  # the planted outlier has the largest norm


@pytest.mark.parametrize("norm, expected", [("l2", 20), ("l1", 21), ("linf", 20)])
def test_norm_variant_uses_its_norm(norm, expected):
    """One cluster (budget 1): row 20 has the largest l2 and linf norms, row 21 the largest l1."""
    rng = np.random.default_rng(0)
    P = np.vstack([rng.uniform(0.2, 0.8, size=(20, 4)), [[2.2, 0, 0, 0], [1.5, 1.5, 0, 0]]])
    np.testing.assert_array_equal(TypiClustNormQuery(norm=norm, alpha=0.0).select(P, 1), [expected])


def test_norm_variant_uses_its_centre():
    centred = TypiClustNormQuery(center=True, random_state=0).select(X, 3)
    dist = np.linalg.norm(X - X.mean(axis=0), axis=1)
    expected = [best(m, typ_of(X, m) * dist[m]) for m in GROUPS]
    np.testing.assert_array_equal(centred, expected)
    plain = [best(m, typ_of(X, m) * np.linalg.norm(X[m], axis=1)) for m in GROUPS]
    assert expected != plain


def gs_expected(X, groups, alpha, labeled=()):
    basis, picks = [X[i] for i in labeled], []
    for m in groups:
        pick = best(m, typ_of(X, m) ** alpha * residual_norms(X[m], basis))
        picks.append(pick)
        basis.append(X[pick])
    return picks


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_gs_variant_takes_the_largest_typicality_times_residual_against_the_picks(alpha):
    picks = TypiClustGSQuery(alpha=alpha, random_state=0).select(X, 3)
    expected = gs_expected(X, GROUPS, alpha)
    np.testing.assert_array_equal(picks, expected)
    if alpha:  # the residual matters: the norm variant picks otherwise in a later cluster
        assert expected != TypiClustNormQuery(alpha=alpha, random_state=0).select(X, 3).tolist()


def test_gs_variant_projects_the_labeled_span_out_first():
    labeled = [GROUPS[1][3]]  # the middle group has a labeled row: it is visited last
    picks = TypiClustGSQuery(random_state=0).select(X, 2, labeled=labeled)
    expected = gs_expected(X, [GROUPS[0], GROUPS[2]], 1.0, labeled)
    np.testing.assert_array_equal(picks, expected)
    assert expected != gs_expected(X, [GROUPS[0], GROUPS[2]], 1.0)


def test_gs_variant_centres_its_residuals():
    picks = TypiClustGSQuery(center=True, random_state=0).select(X, 3)
    Xc = X - X.mean(axis=0)
    basis, expected = [], []
    for m in GROUPS:
        expected.append(best(m, typ_of(X, m) * residual_norms(Xc[m], basis)))
        basis.append(Xc[expected[-1]])
    np.testing.assert_array_equal(picks, expected)
    assert expected != gs_expected(X, GROUPS, 1.0)


def test_gs_variant_restarts_its_basis_past_the_rank():
    """Four groups in a plane: after two picks every member is in the span, so the basis restarts."""
    angles = np.deg2rad([0.0, 30.0, 60.0, 90.0, 120.0, 150.0])
    dirs = np.zeros((6, 4))
    dirs[:, 0], dirs[:, 1] = np.cos(angles), np.sin(angles)
    P, groups = grouped_pool(seed=1, directions=dirs, sizes=(40, 34, 28, 22, 16, 10))
    P[:, 2:] = 0.0
    q = TypiClustGSQuery(random_state=0)
    picks = q.select(P, 6)
    assert q.restarts_ == 2
    expected = [p for r in range(3) for p in gs_expected(P, groups[2 * r : 2 * r + 2], 1.0)]
    np.testing.assert_array_equal(picks, expected)


def test_variants_keep_typiclusts_clusters_and_order():
    """Whatever the in-cluster rule, one pick per group, groups in TypiClust's order."""
    for q in (TypiClustNormQuery(random_state=2), TypiClustGSQuery(random_state=2)):
        picks = q.select(X, 3)
        assert [int(np.flatnonzero([p in g for g in GROUPS])[0]) for p in picks] == [0, 1, 2]


@pytest.mark.filterwarnings("error")  # no 0/0 into the basis
@pytest.mark.parametrize("cls", [TypiClustNormQuery, TypiClustGSQuery])
def test_a_cluster_of_zero_rows_still_gives_a_pick(cls):
    """Zero rows have no norm and no residual: their cluster still gives its first member, score 0."""
    P, groups = grouped_pool(directions=DIRECTIONS[:1], sizes=(20,))
    P = np.vstack([P, np.zeros((12, 4))])
    q = cls(random_state=0)
    picks, scores = q.select_with_scores(P, 2)
    assert picks[0] == best(groups[0], typ_of(P, groups[0]) * np.linalg.norm(P[groups[0]], axis=1))
    assert picks[1] == 20 and scores[1] == 0.0 and scores[0] > 0
    assert getattr(q, "restarts_", 0) == 0  # zero rows are no reason to start the basis over


@pytest.mark.parametrize(
    "make, word, error",
    [
        (lambda: TypiClustNormQuery(alpha=-1.0), "alpha", InvalidValueError),
        (lambda: TypiClustGSQuery(alpha="1"), "alpha", InvalidTypeError),
        (lambda: TypiClustNormQuery(norm="l3"), "norm", InvalidValueError),
        (lambda: TypiClustGSQuery(center="yes"), "center", InvalidTypeError),
        (lambda: TypiClustNormQuery(center=1), "center", InvalidTypeError),
        (lambda: TypiClustGSQuery(k_neighbors=0), "k_neighbors", InvalidValueError),
        (lambda: CenteredGramSchmidtQuery(exhausted="x"), "exhausted", InvalidValueError),
    ],
)
def test_bad_parameters_name_themselves(make, word, error):
    with pytest.raises(error, match=f"^{word} must"):
        make().select(X, 2)


def test_documented_defaults():
    import inspect

    def defaults(cls):
        return {k: p.default for k, p in inspect.signature(cls).parameters.items()}

    typiclust = dict(max_clusters=500, k_neighbors=20, min_cluster_size=5, random_state=None, features=None)
    for cls, own in [
        (TypiClustNormQuery, dict(norm="l2", alpha=1.0, center=False)),
        (TypiClustGSQuery, dict(alpha=1.0, center=False)),
    ]:
        assert defaults(cls) == dict(typiclust, **own)
        assert cls().get_params(deep=False) == dict(typiclust, **own)  # and what the object stores
        assert cls().approximate is False  # TypiClust's exact path, whatever the pool size
    assert defaults(CenteredGramSchmidtQuery) == dict(
        defaults(GramSchmidtQuery), center=True
    )  # the rest follows GramSchmidtQuery's defaults


@pytest.mark.parametrize(
    "cls, params",
    [
        (TypiClustNormQuery, dict(norm="l1", alpha=0.5, center=True)),
        (TypiClustGSQuery, dict(alpha=2.0, center=True)),
        (CenteredGramSchmidtQuery, dict(norm="linf", randomized=False, method="plain", exhausted="restart")),
    ],
)
def test_every_parameter_is_stored_as_given(cls, params):
    f = np.sqrt
    if cls is not CenteredGramSchmidtQuery:
        params = dict(params, max_clusters=7, k_neighbors=3, min_cluster_size=2)
    q = cls(random_state=11, features=f, **params)
    assert q.get_params(deep=False) == dict(params, random_state=11, features=f, **_unset(cls, params))


def _unset(cls, params):
    import inspect

    sig = inspect.signature(cls).parameters
    return {k: p.default for k, p in sig.items() if k not in params and k not in ("random_state", "features")}


def test_centered_gram_schmidt_is_gs_with_center_true():
    q = get_strategy("gram_schmidt_centered", random_state=3)
    assert isinstance(q, CenteredGramSchmidtQuery) and q.center is True
    np.testing.assert_array_equal(q.select(X, 4), GramSchmidtQuery(center=True, random_state=3).select(X, 4))
    shifted = X + 50.0  # one orthant, far from the origin: centring makes the shift irrelevant
    np.testing.assert_array_equal(
        CenteredGramSchmidtQuery(randomized=False).select(shifted, 4),
        CenteredGramSchmidtQuery(randomized=False).select(X, 4),
    )


def test_registered_names():
    assert isinstance(get_strategy("typiclust_norm"), TypiClustNormQuery)
    assert isinstance(get_strategy("typiclust_gs"), TypiClustGSQuery)
    combo = get_strategy("typiclust_gs_then_norm", factor=1.5)
    assert isinstance(combo.first, TypiClustGSQuery) and combo.factor == 1.5


@pytest.mark.parametrize("cls", [TypiClustNormQuery, TypiClustGSQuery])
def test_variants_refuse_the_approximate_path_instead_of_ignoring_it(cls):
    q = cls()
    assert q.approximate is False
    with pytest.raises(InvalidValueError, match="approximate=True"):
        q.approximate = True
    with pytest.raises(ValueError, match="approximate"):
        q.set_params(approximate=True)
    q.approximate = False  # the value it has: accepted
