"""The pool of rows behind one protocol: in memory (numpy or torch kernels) and Dask chunks.

A selection algorithm that needs more than one pass over the rows (Gram-Schmidt's
rejection sampler, the norm race that fills a budget) is written once against
:class:`RowPool`; the backend decides where the rows live and where the passes run.
This package holds the protocol and the in-memory backend; the Dask backend is
:class:`subsel_plugins.distributed.ChunkedPool`. Which backend an input gets is
decided at the door (``subsel_plugins.dispatch``), never by a strategy.
"""

from ._memory import ArrayPool, Centered, NumpyKernels, TorchKernels
from ._pool import Batch, RowPool

__all__ = ["RowPool", "Batch", "ArrayPool", "Centered", "NumpyKernels", "TorchKernels"]
