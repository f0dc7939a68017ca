"""The pool of rows behind one protocol: in memory (numpy or torch kernels) and Dask chunks.

A selection algorithm that needs more than one pass over the rows (Gram-Schmidt's
rejection sampler, the norm race that fills a budget) is written once against
:class:`RowPool`; the backend decides where the rows live and where the passes run.
Farthest-first traversal (k-center greedy) is written once against
:class:`DistancePool`, TypiClust's visiting loop against :class:`ClusterPool`, ProbCover's radius,
graph and greedy coverage against :class:`BallPool` and :class:`CoverGraph`.
This package holds the protocols and the in-memory backends; the Dask backends
are :class:`subsel_plugins.distributed.ChunkedPool`,
:class:`subsel_plugins.distributed.ChunkedDistancePool` and
:class:`subsel_plugins.distributed.ChunkedClusterPool`. Which backend an input gets is
decided at the door (``subsel_plugins.dispatch``), never by a strategy.
"""

from ._balls import ArrayBallPool, ArrayCoverGraph, Cells
from ._memory import ArrayClusterPool, ArrayDistancePool, ArrayPool, Centered, NumpyKernels, TorchKernels
from ._pool import BallPool, Batch, ClusterPool, CoverGraph, DistancePool, RowPool

__all__ = [
    "RowPool",
    "Batch",
    "ArrayPool",
    "Centered",
    "NumpyKernels",
    "TorchKernels",
    "DistancePool",
    "ArrayDistancePool",
    "ClusterPool",
    "ArrayClusterPool",
    "BallPool",
    "CoverGraph",
    "ArrayBallPool",
    "ArrayCoverGraph",
    "Cells",
]
