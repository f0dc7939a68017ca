"""Every registered strategy, combinations included, passes the shared check suite."""

import functools
import warnings

import pytest

from subsel_plugins import available_strategies, get_strategy
from subsel_plugins.testing import STRATEGY_CHECKS

NAMES = available_strategies()


def test_required_names_registered():
    required = {"random", "feature_norm", "gram_schmidt", "typiclust", "probcover"}
    assert required <= set(NAMES)
    for first in required:
        for second in ("norm", "gs", "random"):
            assert f"{first}_then_{second}" in NAMES


@pytest.mark.parametrize("check", STRATEGY_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_strategy_passes_check(name, check):
    with warnings.catch_warnings():
        # Gram-Schmidt on 8-d data runs out of directions at larger budgets and says so.
        warnings.simplefilter("ignore", RuntimeWarning)
        check(functools.partial(get_strategy, name))
