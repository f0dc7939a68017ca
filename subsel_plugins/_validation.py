"""Input checks shared by every strategy.

Errors name the parameter, the value seen and what was expected, so a user
never has to read a traceback from deep inside numpy to find what was wrong.
"""

from __future__ import annotations

import copy
import numbers
import os
import resource

import numpy as np

from .errors import InvalidTypeError, InvalidValueError

# Bytes checked for NaN/inf at a time: keeps the check O(block) in memory on
# memory-mapped inputs far larger than RAM, and small enough that the second
# reduction (min after max) reads the block from cache.
_FINITE_BLOCK_BYTES = 4 << 20


def check_features(X, name: str = "X", *, return_max_abs: bool = False):
    """Return ``X`` as a 2-D floating array without copying when possible.

    float32 and float64 arrays (memory-mapped ones included) are returned as
    they are; integer and boolean arrays become float64; float16 becomes
    float32. Lists, pandas DataFrames and torch tensors are converted (a
    tensor that requires grad is detached, one on a GPU copied to the CPU).

    With ``return_max_abs=True`` also returns ``max |X|`` (float), found in the
    same pass as the finiteness check.

    Raises
    ------
    InvalidTypeError (a TypeError)
        For sparse matrices, masked arrays and non-numeric data.
    InvalidValueError (a ValueError)
        For arrays that are not 2-D, are empty, or hold NaN or infinity.
    """
    X = _as_float_matrix(X, name)
    max_abs = _finite_max_abs(X, name)
    return (X, max_abs) if return_max_abs else X


def _as_float_matrix(X, name: str) -> np.ndarray:
    """``X`` as a non-empty 2-D float32/float64 ndarray (no copy for float arrays)."""
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise InvalidTypeError(
            f"{name} is a scipy.sparse matrix ({type(X).__name__}); subsel strategies "
            f"need dense features: pass {name}.toarray() or a dense embedding."
        )
    if isinstance(X, np.ma.MaskedArray):
        # the data under the mask (NaN, say) would be used as if valid
        raise InvalidTypeError(
            f"{name} is a numpy masked array; subsel strategies do not skip masked entries: "
            f"pass {name}.filled(value) or drop the masked rows first."
        )
    if type(X).__module__.split(".")[0] == "torch" and hasattr(X, "detach"):
        # a tensor that requires grad (a model's output): selection never backpropagates
        X = X.detach()
        if getattr(X, "device", None) is not None and X.device.type != "cpu":
            X = X.cpu()
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        X = X.to_numpy()
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise InvalidTypeError(
                f"{name} must be a numeric array-like of shape (n_samples, n_features); "
                f"could not convert {type(X).__name__}: {exc}"
            ) from None
    if X.dtype == np.bool_ or np.issubdtype(X.dtype, np.integer):
        X = X.astype(np.float64)
    elif X.dtype == np.float16:
        X = X.astype(np.float32)
    elif not np.issubdtype(X.dtype, np.floating):
        kind = "complex" if np.issubdtype(X.dtype, np.complexfloating) else "non-numeric"
        raise InvalidTypeError(f"{name} must hold real numbers (float or int); got {kind} dtype {X.dtype}.")
    if X.ndim != 2:
        raise InvalidValueError(
            f"{name} must be 2-D of shape (n_samples, n_features); got {X.ndim}-D "
            f"array of shape {X.shape}. Reshape a single feature with "
            f"{name}.reshape(-1, 1) or one sample with {name}.reshape(1, -1)."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidValueError(
            f"{name} is empty (shape {X.shape}); expected at least one sample and one feature."
        )
    return X


def _finite_max_abs(X: np.ndarray, name: str) -> float:
    """``max |X|``, read in blocks; raises on the first NaN or infinity."""
    max_abs = 0.0
    step = max(1, _FINITE_BLOCK_BYTES // (X.shape[1] * X.itemsize))
    for start in range(0, X.shape[0], step):
        block = X[start : start + step]
        # max and min propagate NaN and are infinite only if an entry is: two
        # cheap reductions that allocate nothing and also give max |X|.
        hi, lo = float(block.max()), float(block.min())
        if np.isfinite(hi) and np.isfinite(lo):
            max_abs = max(max_abs, hi, -lo)
            continue
        finite = np.isfinite(block)
        row = start + int(np.argwhere(~finite)[0, 0])
        raise InvalidValueError(
            f"{name} contains NaN or infinity (first at row {row}); expected finite features."
        )
    return max_abs


# Features whose largest magnitude lies outside [2**-32, 2**32] are rescaled by
# a power of two before a scale-invariant strategy sees them: squares of float32
# entries would overflow above about 2**64 / d and vanish below 2**-75, and
# float32 casts overflow above 3e38. A power of two rescales exactly.
_SAFE_EXPONENT = 32


def rescale_exponent(max_abs: float) -> int:
    """Power of two ``e`` such that ``X * 2**-e`` has max abs in [0.5, 1); 0 when no rescale is needed."""
    if max_abs == 0.0:
        return 0
    e = int(np.frexp(max_abs)[1])
    return e if abs(e) > _SAFE_EXPONENT else 0


def check_budget(budget, n_available: int, name: str = "budget") -> int:
    """Check that ``budget`` is an integer in ``[1, n_available]``."""
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, numbers.Integral):
        raise InvalidTypeError(
            f"{name} must be a positive integer; got {budget!r} ({type(budget).__name__})."
        )
    budget = int(budget)
    if budget < 1:
        raise InvalidValueError(f"{name} must be >= 1; got {budget}.")
    if n_available == 0:
        raise InvalidValueError(f"every row of X is labeled; no unlabeled row is left for {name}={budget}.")
    if budget > n_available:
        raise InvalidValueError(
            f"{name}={budget} exceeds the {n_available} unlabeled rows available; "
            f"expected 1 <= {name} <= {n_available}."
        )
    return budget


def check_labeled(labeled, n_samples: int, name: str = "labeled") -> np.ndarray:
    """Return labeled row indices as a sorted-by-input int64 array.

    Accepts None (no labeled rows), integer indices, or a boolean mask of
    length ``n_samples``.
    """
    if labeled is None:
        return np.empty(0, dtype=np.int64)
    arr = np.asarray(labeled)
    if arr.dtype == np.bool_:
        if arr.shape != (n_samples,):
            raise InvalidValueError(
                f"{name} as a boolean mask must have shape ({n_samples},); got {arr.shape}."
            )
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1:
        raise InvalidValueError(f"{name} must be 1-D row indices; got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if (
            np.issubdtype(arr.dtype, np.floating)
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise InvalidTypeError(f"{name} must hold integer row indices; got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n_samples)
    if bad.any():
        raise InvalidValueError(
            f"{name} holds index {int(arr[bad][0])}, out of range for X with "
            f"{n_samples} rows; expected indices in [0, {n_samples - 1}]."
        )
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise InvalidValueError(
            f"{name} repeats index {int(uniq[counts > 1][0])}; expected distinct row indices."
        )
    return arr


def make_rng(random_state) -> np.random.Generator:
    """A fresh numpy Generator derived from ``random_state`` without mutating it.

    ``None`` gives fresh OS entropy, an int a fixed seed; a Generator or
    RandomState is deep-copied, so the caller's object is never advanced.
    (Strategies call it through :class:`RandomStream`, which draws a new stream
    per call.)
    """
    check_random_state_param(random_state)
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return copy.deepcopy(random_state)
    seed = copy.deepcopy(random_state).randint(0, 2**32 - 1, size=4)
    return np.random.default_rng(seed)


def check_random_state_param(random_state, name: str = "random_state") -> None:
    """None, a non-negative int, a numpy Generator or RandomState."""
    if isinstance(random_state, (bool, np.bool_)):
        raise InvalidTypeError(f"{name} must be None, an int, a Generator or a RandomState; got a bool.")
    if isinstance(random_state, numbers.Integral):
        if int(random_state) < 0:
            raise InvalidValueError(f"{name} must be a non-negative int; got {random_state}.")
        return
    if random_state is None or isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return
    raise InvalidTypeError(
        f"{name} must be None, an int, a numpy Generator or RandomState; got {type(random_state).__name__}."
    )


class RandomStream:
    """The random numbers of a strategy, fresh for every call and reproducible per seed.

    Call ``k`` (0, 1, 2, ...) of :meth:`next` returns:

    - ``random_state=None``: a Generator on fresh OS entropy;
    - an int ``s``: ``default_rng(s)`` for call 0 (so one selection draws
      exactly as ``default_rng(s)``), then ``default_rng(SeedSequence(s,
      spawn_key=(k,)))``: independent streams, the same for every object
      built with the same seed;
    - a Generator or RandomState: a private copy made at call 0, which then
      advances from call to call (the caller's object is never advanced).

    So a strategy reused across active-learning rounds draws new numbers each
    round, while the same seed reproduces the whole sequence of rounds, and a
    fresh or cloned strategy starts the sequence over.
    """

    def __init__(self, random_state):
        check_random_state_param(random_state)
        self.source = random_state
        self.calls = 0
        self._rng = None

    def matches(self, random_state) -> bool:
        """Whether this stream was made from ``random_state`` (same int, or the very same object)."""
        if isinstance(random_state, numbers.Integral) and isinstance(self.source, numbers.Integral):
            return int(random_state) == int(self.source)
        return random_state is self.source

    def next(self) -> np.random.Generator:
        k, self.calls = self.calls, self.calls + 1
        rs = self.source
        if rs is None:
            return np.random.default_rng()
        if isinstance(rs, numbers.Integral):
            if k == 0:
                return np.random.default_rng(int(rs))
            return np.random.default_rng(np.random.SeedSequence(int(rs), spawn_key=(k,)))
        if self._rng is None:
            self._rng = make_rng(rs)
        return self._rng


def sklearn_seed(rng: np.random.Generator) -> int:
    """An int seed for scikit-learn estimators, drawn from ``rng``."""
    return int(rng.integers(0, 2**31 - 1))


NORMS = ("l2", "l1", "linf")


def check_choice(value, name: str, choices: tuple) -> str:
    """A string among ``choices`` (TypeError for a non-string, ValueError for another string)."""
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be one of {choices}; got {value!r} ({type(value).__name__}).")
    if value not in choices:
        raise InvalidValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


def check_norm(norm) -> str:
    return check_choice(norm, "norm", NORMS)


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidTypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_int(value, name: str, minimum: int | None = None, *, allow_none: bool = False) -> int | None:
    """An integer (not a bool) ``>= minimum``; scikit-learn's ``check_scalar`` convention."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        expected = "an integer" + (" or None" if allow_none else "")
        raise InvalidTypeError(f"{name} must be {expected}; got {value!r} ({type(value).__name__}).")
    if minimum is not None and value < minimum:
        raise InvalidValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_real(
    value,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    allow_none: bool = False,
) -> float | None:
    """A finite real number (not a bool) in the interval given by ``low`` and ``high`` (inclusive)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        expected = "a real number" + (" or None" if allow_none else "")
        raise InvalidTypeError(f"{name} must be {expected}; got {value!r} ({type(value).__name__}).")
    lo = "-inf" if low is None else low
    hi = "inf" if high is None else high
    interval = f"{'[' if low_inclusive else '('}{lo}, {hi}]"
    try:
        # an int too large for a float (10**400) would make np.isfinite raise a TypeError
        value_f = float(value)
    except OverflowError:
        value_f = float("inf")
    ok = np.isfinite(value_f)
    if low is not None:
        ok = ok and (value >= low if low_inclusive else value > low)
    if high is not None:
        ok = ok and value <= high
    if not ok:
        shown = repr(value)
        if len(shown) > 40:  # an int of hundreds of digits
            shown = f"{shown[:12]}...{shown[-4:]} ({len(shown)} digits)"
        raise InvalidValueError(f"{name} must be a finite number in {interval}; got {shown}.")
    return float(value)


_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
    "t": 2**40,
}


def check_memory_size(value, name: str, *, allow_none: bool = True) -> int | None:
    """A memory size in bytes: a positive number, or a string such as ``"512MB"``, ``"4GiB"``, ``"2e9"``.

    Decimal units (kB, MB, GB, TB) are powers of 1000, binary ones (KiB, MiB,
    GiB, TiB, and the bare K, M, G, T) powers of 1024; case is ignored.
    Returns the size as an int (None stays None when ``allow_none``).
    """
    if value is None and allow_none:
        return None
    expected = "a positive number of bytes or a size such as '512MB' or '4GiB'" + (
        " or None" if allow_none else ""
    )
    if isinstance(value, str):
        text = value.strip().replace(" ", "").replace("_", "")
        number = text.rstrip("bBiIkKmMgGtT")
        unit = text[len(number) :].lower()
        try:
            size = float(number) * _BYTE_UNITS[unit]
        except (ValueError, KeyError):
            raise InvalidValueError(f"{name} must be {expected}; got {value!r}.") from None
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be {expected}; got {value!r} ({type(value).__name__}).")
    else:
        try:
            size = float(value)
        except OverflowError:
            size = float("inf")
    if not (np.isfinite(size) and size >= 1):
        raise InvalidValueError(f"{name} must be {expected} (at least 1 byte, finite); got {value!r}.")
    return int(size)


def format_bytes(n: float) -> str:
    """``n`` bytes as a short decimal size: ``'812 kB'``, ``'3.4 GB'``, ``'65 TB'``."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


class ScoresNotRescaledWarning(UserWarning):
    """Scores were left on the power-of-two rescaled features: scaled back they would overflow."""


def scale_scores_back(scores: np.ndarray, exponent: int) -> np.ndarray:
    """Scores of features rescaled by ``2**-e``, scaled back by ``2**exponent`` (``exponent = e * degree``).

    Scaling back is exact (a power of two) unless a score would leave the
    float64 range: scores of rows near the float maximum (``1.5e308`` in every
    entry: an l2 norm of ``3e308``) cannot be represented. Then every score is
    returned as computed on the rescaled features (so they still compare with
    one another), with a :class:`ScoresNotRescaledWarning` giving the factor
    ``2**exponent`` they are short of: the picks are unchanged, and no score
    is ever returned as ``inf``.

    Returns
    -------
    ndarray of float64, shaped as ``scores``
    """
    scores = np.asarray(scores, dtype=np.float64)
    if not exponent:
        return scores
    with np.errstate(over="ignore", under="ignore"):
        back = np.ldexp(scores, exponent)
    if np.all(np.isfinite(back) | ~np.isfinite(scores)):
        return back
    import warnings

    warnings.warn(
        f"the scores are those of the features times 2**{-exponent} (the features were rescaled by an "
        f"exact power of two for safe arithmetic); times 2**{exponent} they would exceed the float64 "
        "maximum (1.8e308), so they are returned rescaled. The picks are unchanged.",
        ScoresNotRescaledWarning,
        stacklevel=3,
    )
    return scores


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as fh:
            return max(0, int(limit) - int(fh.read().strip()))
    except (OSError, ValueError):
        return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def available_memory() -> int:
    """Bytes this process can still allocate: the least of the machine's available memory
    (``MemAvailable`` in /proc/meminfo, else ``os.sysconf``), the cgroup's memory limit
    left, and the address-space limit (``ulimit -v``, ``prlimit --as``) left; 1 GB when
    none of them can be read."""
    known = [v for v in (_meminfo_available(), _cgroup_available(), _address_space_left()) if v is not None]
    return int(min(known)) if known else 10**9
