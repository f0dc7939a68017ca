"""Row sources: where the distributed strategies read features from, chunk by chunk.

A :class:`RowSource` is a small, picklable description of an N x d matrix cut
into row chunks (``starts``: chunk ``c`` holds global rows ``starts[c]`` to
``starts[c+1]``). Workers read a whole chunk (a pass) or a few rows of one
chunk (the candidates of a Gram-Schmidt trial) straight from the source, so
nothing a worker holds is ever the only copy of the data: a chunk lost with a
worker is read again.

- :class:`NpyShards`: ``.npy`` files (a glob or a list; each file's rows are
  memory-mapped and cut into chunks of about 64 MiB). Every worker must see
  the same paths (a shared file system).
- :class:`ZarrRows`: a 2-D zarr array (chunks follow its own row chunks).
- :class:`DaskRows`: any row-chunked ``dask.array.Array`` (its column chunks
  are merged). Reading a few rows computes their whole chunk: prefer shards
  or zarr for Gram-Schmidt on large pools.
- :class:`SeededRows`: rows generated from a seed (each block of 1024 rows
  from its own ``numpy`` stream), for benchmarks and tests without disk.
"""

from __future__ import annotations

import glob as _glob
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidTypeError, InvalidValueError, MissingFileError

#: Target bytes of one chunk of a shard or zarr source.
CHUNK_BYTES = 64 << 20


def _check_not_empty(n: int, d: int) -> None:
    if n == 0 or d == 0:
        raise InvalidValueError(f"X is empty (shape ({n}, {d})); expected at least one row and column.")


def _float_dtype(dtype) -> np.dtype:
    """The float dtype rows are handed out in (the single-machine conversion rules)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_ or np.issubdtype(dtype, np.integer):
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    if np.issubdtype(dtype, np.floating):
        return dtype
    kind = "complex" if np.issubdtype(dtype, np.complexfloating) else "non-numeric"
    raise InvalidTypeError(f"X must hold real numbers (float or int); got {kind} dtype {dtype}.")


def _even_starts(n: int, rows: int) -> np.ndarray:
    return np.unique(np.r_[np.arange(0, n, max(1, rows)), n]).astype(np.int64)


class RowSource:
    """An N x d matrix readable by row chunk on any worker (see the module docstring).

    Attributes
    ----------
    n, d : int
    dtype : numpy dtype (float32 or float64) of the rows handed out
    starts : ndarray of shape (n_chunks + 1,), int64
    scale_exponent : int
        Rows are multiplied by ``2**-scale_exponent`` (exact) when read: set
        by :meth:`scaled` for features of extreme magnitude.
    center_mean : ndarray of shape (d,), float64, or None
        Subtracted from every rescaled row when read (:meth:`centered`).
    """

    n: int
    d: int
    dtype: np.dtype
    starts: np.ndarray
    scale_exponent: int = 0
    #: The float64 mean row subtracted from every row, set by :meth:`centered` (None: rows as stored).
    center_mean: np.ndarray | None = None

    @property
    def n_chunks(self) -> int:
        return len(self.starts) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.d)

    def __getitem__(self, rows) -> np.ndarray:
        """Rows ``rows`` (global indices, an int array or list) gathered on the client, in that order.

        What a strategy written for arrays reads of a pool it only subsets
        (``ThenQuery`` hands ``X[candidates]`` to its second stage).
        """
        from ._passes import gather_rows

        rows = np.asarray(rows)
        if rows.dtype.kind not in "iu" or rows.ndim != 1:
            raise TypeError(f"{type(self).__name__} rows are read by a 1-d integer array of row indices")
        return gather_rows(self, rows)

    def chunk_of(self, rows: np.ndarray) -> np.ndarray:
        """Chunk index of each global row."""
        return np.searchsorted(self.starts, rows, side="right") - 1

    def read_block(self, c: int) -> np.ndarray:
        """Rows of chunk ``c`` (runs on a worker)."""
        return self._finish(self._read_block(c))

    def read_rows(self, c: int, local: np.ndarray) -> np.ndarray:
        """Rows ``local`` (indices within chunk ``c``) of chunk ``c`` (runs on a worker)."""
        return self._finish(self._read_rows(c, np.asarray(local, dtype=np.int64)))

    def iter_rows(self, c: int, step: int):
        """``(offset, rows)`` pieces of chunk ``c``, in order (runs on a worker).

        Passes read a chunk piece by piece: the pieces are small enough to be
        reused by the allocator, where a whole fresh chunk would page-fault
        in (about a second per 400 MB here). Sources override it to read or
        generate each piece directly.
        """
        B = self.read_block(c)
        for s in range(0, B.shape[0], step):
            yield s, B[s : s + step]

    def block_task(self, c: int):
        """What a pass task takes for chunk ``c``: a :class:`BlockRef` (the task reads the chunk itself).

        Reading inside the task that uses the chunk keeps the chunk on the
        worker that reads it (a separate read task could run on another worker
        and the chunk travel). :class:`DaskRows` returns a dask Delayed instead.
        """
        return BlockRef(self, c)

    def rows_task(self, c: int, local: np.ndarray):
        from dask import delayed

        return delayed(_read_rows, pure=True)(self, c, local)

    def scaled(self, e: int) -> RowSource:
        """The same source with rows multiplied by ``2**-e`` (exact).

        Of a :meth:`centered` source: the centred rows times ``2**-e`` (the
        stored rows' exponent and the mean are both scaled).
        """
        import copy

        out = copy.copy(self)
        out.scale_exponent = self.scale_exponent + int(e)
        if self.center_mean is not None:
            out.center_mean = np.ldexp(self.center_mean, -int(e))
        return out

    def centered(self, mean) -> RowSource:
        """The same source with the float64 row ``mean`` subtracted from every row, as it is read.

        The rows are then float64, as :class:`~subsel_plugins.backends.Centered`
        hands them out on one machine: each row is converted to float64,
        multiplied by ``2**-scale_exponent`` (exact), then the mean is
        subtracted. ``mean`` is in those rescaled units; it is part of the
        source's dask token, so states of the centred and the raw rows never share a key.
        """
        import copy

        mean = np.array(mean, dtype=np.float64)
        if mean.shape != (self.d,):
            raise ValueError(f"mean must have shape ({self.d},); got {mean.shape}")
        out = copy.copy(self)
        out.center_mean = mean
        out.dtype = np.dtype(np.float64)
        return out

    def _finish(self, block) -> np.ndarray:
        return _finish_block(block, self.dtype, self.scale_exponent, self.center_mean)

    def _center_token(self) -> tuple:
        if self.center_mean is None:
            return ()
        import hashlib

        return ("centered", hashlib.sha1(self.center_mean.tobytes()).hexdigest())

    def _read_block(self, c):  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_rows(self, c, local):
        return self._read_block(c)[local]

    def __dask_tokenize__(self):
        return (
            type(self).__name__,
            self._token(),
            self.scale_exponent,
            tuple(self.starts.tolist()),
            *self._center_token(),
        )

    def _token(self):  # pragma: no cover - abstract
        raise NotImplementedError


class BlockRef:
    """Chunk ``c`` of ``source``, read where it is used (:func:`materialize`)."""

    __slots__ = ("source", "c")

    def __init__(self, source, c):
        self.source, self.c = source, int(c)

    def __dask_tokenize__(self):
        return ("BlockRef", self.source.__dask_tokenize__(), self.c)


def materialize(block) -> np.ndarray:
    """The rows of a :class:`BlockRef` (read now) or of an already computed block."""
    if isinstance(block, BlockRef):
        return block.source.read_block(block.c)
    return np.asarray(block)


def block_len(block) -> int:
    if isinstance(block, BlockRef):
        return int(block.source.starts[block.c + 1] - block.source.starts[block.c])
    return int(np.asarray(block).shape[0])


def iter_pieces(block, step):
    """``(offset, rows)`` pieces of a :class:`BlockRef` or of a computed block."""
    if isinstance(block, BlockRef):
        yield from block.source.iter_rows(block.c, step)
        return
    B = np.asarray(block)
    for s in range(0, B.shape[0], step):
        yield s, B[s : s + step]


def take_rows(block, local) -> np.ndarray:
    """Rows ``local`` of a :class:`BlockRef` (read from the source) or of a computed block."""
    if isinstance(block, BlockRef):
        return block.source.read_rows(block.c, local)
    return np.asarray(block)[local]


def _read_rows(source, c, local):
    return source.read_rows(c, local)


class NpyShards(RowSource):
    """Row shards stored as ``.npy`` files, read memory-mapped (see the module docstring).

    Parameters
    ----------
    paths : str, path or list of them
        A glob (``'emb/*.npy'``, sorted by name), one file, or a list of files
        in row order. Global row ``i`` is row ``i`` of the files concatenated.
    chunk_rows : int, optional
        Rows per chunk (chunks never cross files); default about 64 MiB.
    """

    def __init__(self, paths, chunk_rows=None):
        files = _expand_paths(paths)
        shapes, dtypes = [], []
        for f in files:
            try:
                m = np.load(f, mmap_mode="r", allow_pickle=False)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
                raise InvalidValueError(f"X: could not read {f} as a .npy array: {exc}") from None
            if m.ndim != 2:
                raise InvalidValueError(
                    f"X: shard {f} holds a {m.ndim}-D array of shape {m.shape}; "
                    "expected 2-D (rows, features)."
                )
            shapes.append(m.shape)
            dtypes.append(m.dtype)
        d = {s[1] for s in shapes}
        if len(d) != 1:
            raise InvalidValueError(
                f"X: the shards have different numbers of columns {sorted(d)}; "
                "expected the same d in every shard."
            )
        self.files = [str(f) for f in files]
        self.d = d.pop()
        self.dtype = _float_dtype(np.result_type(*dtypes))
        if chunk_rows is None:
            chunk_rows = max(1, CHUNK_BYTES // (self.d * self.dtype.itemsize))
        file_starts = np.cumsum([0] + [s[0] for s in shapes])
        self.n = int(file_starts[-1])
        _check_not_empty(self.n, self.d)
        starts, where = [], []
        for k, (rows, _) in enumerate(shapes):
            for s in range(0, rows, chunk_rows):
                starts.append(file_starts[k] + s)
                where.append((k, s, min(rows, s + chunk_rows)))
        self.starts = np.array(starts + [self.n], dtype=np.int64)
        self._where = where
        self._offsets = [_data_offset(f) for f in self.files]
        self._dtypes = [np.dtype(t) for t in dtypes]

    def _copy_from_map(self, k, index):
        """``np.array(shard_k[index])`` through a memory map that is closed before returning.

        A map kept open would count every page it ever touched in the worker's
        resident memory (the page cache's, not the worker's), until Dask paused
        the worker at 80% of its limit and a run waited forever (a held
        TypiClust batch at 10^7 rows did).
        """
        m = np.load(self.files[k], mmap_mode="r", allow_pickle=False)
        out = np.array(m[index])
        del m  # the last reference: unmapped here
        return out

    def _read_block(self, c):
        k, a, b = self._where[c]
        off, dt = self._offsets[k], self._dtypes[k]
        if off is None:  # Fortran order: rows are not contiguous on disk
            return self._copy_from_map(k, slice(a, b))
        # one sequential read of the chunk (large requests: faster than paging a memory map in)
        count = (b - a) * self.d
        block = np.fromfile(self.files[k], dtype=dt, count=count, offset=off + a * self.d * dt.itemsize)
        return block.reshape(b - a, self.d)

    def _read_rows(self, c, local):
        k, a, _ = self._where[c]
        return self._copy_from_map(k, a + np.asarray(local))

    def iter_rows(self, c, step):
        k, a, b = self._where[c]
        off, dt = self._offsets[k], self._dtypes[k]
        if off is None:
            yield from super().iter_rows(c, step)
            return
        # the chunk's rows mapped for this pass only (at most CHUNK_BYTES resident through the
        # map, unmapped when the pass ends): pieces are views of the page cache; reading them
        # into fresh arrays cost a copy and a page fault per 4 KiB of every pass
        # (benchmarks/results/distributed/n1e7-kcenter.md, the kernel before and after)
        m = np.memmap(
            self.files[k], dtype=dt, mode="r", offset=off + a * self.d * dt.itemsize, shape=(b - a, self.d)
        )
        try:
            for s in range(0, b - a, step):
                yield s, self._finish(m[s : s + step].view(np.ndarray))
        finally:
            del m

    def _token(self):
        return tuple((f, os.path.getmtime(f), os.path.getsize(f)) for f in self.files)

    def __repr__(self):
        return f"NpyShards({len(self.files)} files, {self.n} x {self.d} {self.dtype}, {self.n_chunks} chunks)"


def _data_offset(path) -> int | None:
    """Byte offset of a C-ordered .npy file's data (None for Fortran order)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            _, fortran, _ = np.lib.format.read_array_header_1_0(fh)
        else:
            _, fortran, _ = np.lib.format.read_array_header_2_0(fh)
        return None if fortran else fh.tell()


def _expand_paths(paths) -> list[Path]:
    """The shard files of ``paths`` (a glob, a file or a list), as absolute paths.

    Relative paths and globs are resolved here, against the client's working
    directory: the workers read the files by these names, and a worker
    started in another directory would not find ``emb/part_0.npy``.
    """
    if isinstance(paths, (str, os.PathLike)):
        text = str(paths)
        if any(ch in text for ch in "*?["):
            files = sorted(_glob.glob(text))
            if not files:
                raise MissingFileError(f"X: no file matches the glob {text!r}.")
            return [Path(os.path.abspath(f)) for f in files]
        paths = [text]
    files = [Path(p) for p in paths]
    if not files:
        raise InvalidValueError("X: an empty list of shard files; expected at least one .npy file.")
    for f in files:
        if f.is_dir():
            raise InvalidValueError(
                f"X: {f} is a directory; expected .npy shard files (or a glob such as 'dir/*.npy')."
            )
        if not f.is_file():
            raise MissingFileError(f"X: no such file: {f}")
        if f.suffix.lower() != ".npy":
            raise InvalidValueError(
                f"X: {f} is not a .npy file; distributed inputs are .npy shards, zarr or dask arrays."
            )
    return [Path(os.path.abspath(f)) for f in files]


class ZarrRows(RowSource):
    """A 2-D zarr array (chunks follow its row chunks, merged up to about 64 MiB)."""

    def __init__(self, array, chunk_rows=None):
        if len(array.shape) != 2:
            raise InvalidValueError(
                f"X: the zarr array has shape {array.shape}; expected 2-D (rows, features)."
            )
        self.array = array
        self.n, self.d = (int(s) for s in array.shape)
        _check_not_empty(self.n, self.d)
        self.dtype = _float_dtype(array.dtype)
        zrows = int(array.chunks[0])
        if chunk_rows is None:
            chunk_rows = max(zrows, (CHUNK_BYTES // (self.d * self.dtype.itemsize)) // zrows * zrows)
        self.starts = _even_starts(self.n, chunk_rows)

    def _read_block(self, c):
        return self.array[int(self.starts[c]) : int(self.starts[c + 1])]

    def _read_rows(self, c, local):
        return self.array.get_orthogonal_selection((int(self.starts[c]) + local, slice(None)))

    def _token(self):
        return (str(getattr(self.array, "store", "")), getattr(self.array, "path", ""), self.array.shape)

    def __repr__(self):
        return f"ZarrRows({self.n} x {self.d} {self.dtype}, {self.n_chunks} chunks)"


class DaskRows(RowSource):
    """A row-chunked ``dask.array.Array`` (its column chunks are merged into one)."""

    def __init__(self, array):
        if array.ndim != 2:
            raise InvalidValueError(
                f"X: the dask array has shape {array.shape}; expected 2-D (rows, features)."
            )
        if any(np.isnan(s) for s in array.shape) or any(np.isnan(c) for c in array.chunks[0]):
            raise InvalidValueError(
                "X: the dask array has unknown chunk sizes; call X.compute_chunk_sizes() first."
            )
        if len(array.chunks[1]) > 1:
            array = array.rechunk({1: -1})
        self.array = array
        self.n, self.d = (int(s) for s in array.shape)
        _check_not_empty(self.n, self.d)
        self.dtype = _float_dtype(array.dtype)
        self.starts = np.r_[0, np.cumsum(array.chunks[0])].astype(np.int64)
        self._blocks = array.to_delayed()[:, 0]

    def block_task(self, c):
        from dask import delayed

        return delayed(_finish_block, pure=True)(
            self._blocks[c], self.dtype.str, self.scale_exponent, self.center_mean
        )

    def rows_task(self, c, local):
        from dask import delayed

        return delayed(_take_rows, pure=True)(self.block_task(c), local)

    def __dask_tokenize__(self):
        return ("DaskRows", self.array.name, self.scale_exponent, *self._center_token())

    def __repr__(self):
        return f"DaskRows({self.n} x {self.d} {self.dtype}, {self.n_chunks} chunks)"


def _finish_block(block, dtype, e, mean=None):
    """Rows as a source hands them out: in ``dtype``, times ``2**-e``, minus ``mean`` (when given)."""
    B = np.asarray(block).astype(dtype, copy=False)
    if e:
        B = np.ldexp(B, -e).astype(dtype, copy=False)
    return B if mean is None else B - mean


def _take_rows(block, local):
    return np.asarray(block)[local]


class SeededRows(RowSource):
    """Random rows generated from a seed, readable by row without a pass (no disk).

    Row block ``j`` (rows ``1024 j`` to ``1024 j + 1023``) is drawn from
    ``default_rng([seed, j])`` as float32: standard normal (``law="normal"``)
    or uniform on [-1, 1) (``law="uniform"``, three times cheaper to
    generate), its column ``i`` multiplied by ``(i + 1) ** -decay``: a
    spectrum that decays, so Gram-Schmidt's residuals shrink unevenly as on
    real embeddings.

    Parameters
    ----------
    n, d : int
    seed : int
    chunk_rows : int, default 262144
        Rows per chunk (a multiple of 1024).
    decay : float, default 0.5
    law : {"normal", "uniform"}, default "normal"
    """

    BLOCK = 1024

    def __init__(self, n, d, seed=0, chunk_rows=262144, decay=0.5, law="normal"):
        if law not in ("normal", "uniform"):
            raise InvalidValueError(f"law must be 'normal' or 'uniform'; got {law!r}.")
        self.law = law
        self.n, self.d, self.seed, self.decay = int(n), int(d), int(seed), float(decay)
        self.dtype = np.dtype(np.float32)
        chunk_rows = max(self.BLOCK, int(chunk_rows) // self.BLOCK * self.BLOCK)
        self.starts = _even_starts(self.n, chunk_rows)
        self._scale = (np.arange(1, self.d + 1, dtype=np.float64) ** -self.decay).astype(np.float32)

    def _rows_of_block(self, j):
        rng = np.random.default_rng([self.seed, int(j)])
        rows = min(self.BLOCK, self.n - j * self.BLOCK)
        if self.law == "normal":
            Z = rng.standard_normal((self.BLOCK, self.d), dtype=np.float32)[:rows]
        else:
            Z = rng.random((self.BLOCK, self.d), dtype=np.float32)[:rows]
            Z -= 0.5
            Z *= 2.0
        Z *= self._scale
        return Z

    def _read_block(self, c):
        a, b = int(self.starts[c]), int(self.starts[c + 1])
        out = np.empty((b - a, self.d), dtype=np.float32)
        for j in range(a // self.BLOCK, (b - 1) // self.BLOCK + 1):
            s = j * self.BLOCK
            blk = self._rows_of_block(j)
            out[max(s, a) - a : min(s + len(blk), b) - a] = blk[max(0, a - s) : min(len(blk), b - s)]
        return out

    def iter_rows(self, c, step):
        a, b = int(self.starts[c]), int(self.starts[c + 1])  # a is a multiple of BLOCK
        for j in range(a // self.BLOCK, (b - 1) // self.BLOCK + 1):
            yield j * self.BLOCK - a, self._finish(self._rows_of_block(j))

    def _read_rows(self, c, local):
        rows = int(self.starts[c]) + np.asarray(local, dtype=np.int64)
        out = np.empty((rows.size, self.d), dtype=np.float32)
        for j in np.unique(rows // self.BLOCK):
            sel = rows // self.BLOCK == j
            out[sel] = self._rows_of_block(j)[rows[sel] - j * self.BLOCK]
        return out

    def _token(self):
        return (self.n, self.d, self.seed, self.decay, self.law)

    def __repr__(self):
        return f"SeededRows({self.n} x {self.d}, seed={self.seed}, {self.n_chunks} chunks)"


def is_zarr_array(X) -> bool:
    return type(X).__module__.split(".")[0] == "zarr" and hasattr(X, "shape") and hasattr(X, "chunks")


def is_dask_array(X) -> bool:
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks") and hasattr(X, "dask")


def as_source(X) -> RowSource:
    """The :class:`RowSource` of a distributed input (see ``is_distributed_input``)."""
    if isinstance(X, RowSource):
        return X
    if is_dask_array(X):
        return DaskRows(X)
    if is_zarr_array(X):
        return ZarrRows(X)
    if isinstance(X, (str, os.PathLike)) and Path(X).suffix.lower() == ".zarr":
        return ZarrRows(_open_zarr(X))
    return NpyShards(X)


def _open_zarr(path):
    try:
        import zarr
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(
            "reading a .zarr store needs zarr: pip install 'subsel-plugins[dask]'."
        ) from None
    if not Path(path).exists():
        raise MissingFileError(f"X: no such zarr store: {path}")
    try:
        # an absolute path: the store travels to the workers, which may run in another directory
        z = zarr.open(os.path.abspath(path), mode="r")
    except Exception as exc:  # noqa: BLE001
        raise InvalidValueError(f"X: could not open {path} as a zarr array: {exc}") from None
    if not hasattr(z, "get_orthogonal_selection"):
        raise InvalidValueError(
            f"X: {path} is a zarr group, not an array; pass the array (e.g. 'store.zarr/emb')."
        )
    return z
