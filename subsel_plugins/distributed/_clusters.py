"""The Dask backend of :class:`~subsel_plugins.backends.ClusterPool`: TypiClust's clusters on the workers.

TypiClust's loop (``TypiClustQuery._visit``) is the single machine's, on its
approximate path; this pool keeps what is N-sized on the workers:

- **k-means on a sample** (:func:`~subsel_plugins.kernels.sample_kmeans_centroids`,
  the single machine's): the sampled rows (256 per cluster) are gathered on
  the client, L2-normalized and clustered there;
- **every row assigned on the workers**: one task per chunk normalizes its
  rows and takes their nearest centroid
  (:func:`~subsel_plugins.kernels.nearest_centroid`); the labels stay there,
  persisted, and the client receives the cluster sizes;
- **the typicality** is computed where the rows are, for a batch of visits
  (distinct clusters, up to ``TYPICAL_BATCH_BYTES`` of reference rows) at a
  time, in four rounds (:meth:`ChunkedClusterPool.most_typical`):
  (A) the reference rows drawn on the client (positions among a cluster's
  members, as :func:`~subsel_plugins.kernels.typical_refs` draws them) are
  read, with every member of the clusters of at most 640 members (their exact
  typicality is computed on the client), one task per chunk; then each group
  of consecutive chunks (up to ``TYPICAL_GROUP_BYTES`` of the batch's
  members) reads and normalizes the members of the batch's clusters only
  (:func:`_group`), once, and its worker holds them until round (D);
  (B) each group scores its members against their cluster's references
  (:func:`~subsel_plugins.kernels.coarse_typicality`) and keeps its 128
  best, merged in a tree; (C) the 128 candidates' rows are read, one task per
  chunk; (D) each group gives each candidate's nearest squared distances
  among its members, merged in a tree to the ``k + 1`` nearest in the
  cluster (exact per pair: :func:`~subsel_plugins.kernels.knn_sq_distances`
  gives the same bits in any split). The client holds O(K x chunks + the
  batch's references), never O(N d); a batch reads its own clusters'
  members once, not whole chunks, and one whose members exceed
  ``TYPICAL_HELD_BYTES`` is taken in runs of visits that fit (a single visit
  over it reads its members in each round instead). Variants that choose
  inside a cluster by another rule list a cluster's members
  (:meth:`ChunkedClusterPool.members`, one task per chunk) and gather their
  rows.

The rows are normalized by the same kernel per row as on one machine and the
sample is the same, so the picks are those of
``TypiClustQuery(approximate=True)`` on one machine for the same seed (up to
ties in a row's nearest centroid that a float32 product of another block
shape could break the other way).
"""

from __future__ import annotations

import numpy as np

from ..backends import ClusterPool
from ..kernels import (
    TYPICALITY_CANDIDATES,
    TYPICALITY_REFS,
    best_keys,
    cluster_k,
    coarse_typicality,
    knn_sq_distances,
    nearest_centroid,
    sample_kmeans_centroids,
    typical_refs,
    typicality,
    typicality_from_sq,
    unit_rows_float32,
)
from ._client import current_client, nbytes, workers_memory_left
from ._passes import MERGE_FANOUT, ValidatedPool, gather_rows, split_by_chunk
from ._sources import BlockRef, iter_pieces, take_rows

#: Rows per piece of a worker's assignment pass.
ASSIGN_ROWS = 65536

#: Bytes of reference rows (TYPICALITY_REFS x d float32 per visit) one batch of
#: visits holds on the client and sends to each worker.
TYPICAL_BATCH_BYTES = 256 << 20

#: Bytes of unit rows (float32) one task of the typicality's distance rounds
#: holds: consecutive chunks are grouped up to this many bytes of the batch's
#: members (at least one chunk per group).
TYPICAL_GROUP_BYTES = 256 << 20

#: Bytes of a batch's members (unit rows, float32, over all workers) held on the
#: workers between the two distance rounds, and at most a quarter of what the
#: workers have left (:func:`held_limit`); a batch of more is split into
#: consecutive runs of visits that fit (a single visit over it reads its members
#: in each round instead).
TYPICAL_HELD_BYTES = 4 << 30


def _task_assign(block, centroids):
    """Cluster labels (int32) of a chunk's rows: L2-normalized, then their nearest centroid."""
    parts = [
        nearest_centroid(unit_rows_float32(piece), centroids) for _, piece in iter_pieces(block, ASSIGN_ROWS)
    ]
    return np.concatenate(parts).astype(np.int32) if parts else np.empty(0, np.int32)


def _task_sizes(labels, n_clusters):
    return np.bincount(labels, minlength=n_clusters)


def _task_members(labels, ref, cluster):
    """Local indices of the chunk's rows in ``cluster``, and (``ref``: a BlockRef) those rows read here."""
    local = np.flatnonzero(labels == cluster)
    return local, (take_rows(ref, local) if ref is not None else None)


def assign_to_centroids(pool, centroids, phase, per_chunk=False):
    """One pass of ``pool`` (a :class:`ValidatedPool`): every row's nearest centroid, persisted per
    chunk on the workers; returns (the per-chunk labels, the cluster sizes (k,) int64, or with
    ``per_chunk`` the sizes in each chunk (chunks, k))."""
    dask, delayed = pool._dask, pool._delayed
    dC = delayed(centroids)  # one copy per worker, not one per chunk
    blocks = [pool.source.block_task(c) for c in range(pool.source.n_chunks)]
    labels = list(dask.persist(*[delayed(_task_assign)(b, dC) for b in blocks]))
    sizes = dask.compute(*[delayed(_task_sizes)(lab, centroids.shape[0]) for lab in labels])
    pool.stats["passes"] += 1
    back = sum(s.nbytes for s in sizes)
    pool.traffic.add(phase, to_client=back, to_workers=centroids.nbytes, tasks=len(sizes))
    if per_chunk:
        return labels, np.asarray(sizes, dtype=np.int64).reshape(len(sizes), centroids.shape[0])
    return labels, np.sum(sizes, axis=0).astype(np.int64)


def labels_at(pool, labels, rows) -> np.ndarray:
    """The persisted per-chunk ``labels`` of the global ``rows`` (any order), gathered to the client."""
    dask, delayed = pool._dask, pool._delayed
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    parts = split_by_chunk(pool.source, rows)
    got = dask.compute(*[delayed(_task_labels_at)(labels[c], p) for c, p in enumerate(parts) if p.size])
    out = np.empty(rows.size, dtype=np.int64)
    out[order] = np.concatenate(got) if got else np.empty(0, np.int64)
    return out


def _task_labels_at(labels, local):
    return labels[local]


def _race_index(labels, out_local):
    """The chunk's rows still in the race, sorted by cluster then row: ``(local rows, their clusters)``."""
    keep = np.ones(labels.size, dtype=bool)
    keep[out_local] = False
    rows = np.flatnonzero(keep)
    lab = labels[rows]
    order = np.argsort(lab, kind="stable")
    return rows[order], lab[order]


def _members_in(index, cluster):
    """Local rows of ``cluster`` still in the race (ascending), from :func:`_race_index`."""
    rows, lab = index
    # bounds in the labels' own dtype: a list of Python ints would make numpy cast `lab` per call
    a, b = np.searchsorted(lab, np.array([cluster, cluster + 1], dtype=lab.dtype))
    return rows[a:b]


def _task_rows_by_rank(labels, block, out_local, requests):
    """Rows of a chunk by their rank among a cluster's members in the race, L2-normalized float32.

    ``requests``: ``(cluster, ranks)`` pairs (``ranks`` None: every member).
    Returns one ``(local rows, unit rows)`` per request.
    """
    index = _race_index(labels, out_local)
    local = []
    for cluster, ranks in requests:
        m = _members_in(index, int(cluster))
        local.append(m if ranks is None else m[ranks])
    every = np.concatenate(local) if local else np.empty(0, np.int64)
    uniq, inverse = np.unique(every, return_inverse=True)
    F = unit_rows_float32(take_rows(block, uniq))[inverse.reshape(-1)]
    cuts = np.cumsum([0] + [loc.size for loc in local])
    return [(loc, F[cuts[i] : cuts[i + 1]]) for i, loc in enumerate(local)]


def _group(labels, blocks, out_local, clusters):
    """The members still in the race of ``clusters`` (distinct) in consecutive chunks, read as one.

    Returns ``(cuts, F)``: the members of ``clusters[i]`` are the L2-normalized
    float32 rows ``F[cuts[i] : cuts[i + 1]]``, in chunk order, then row order
    (the order in which positions among a cluster's members are counted).
    Only those rows are read and normalized, not the whole chunks, so the
    distance calls per visit are fewer and larger than one per chunk, and a
    batch of visits costs the reading of its own clusters' rows.
    """
    clusters = np.asarray(clusters, dtype=np.int64)
    found = []  # per chunk: its members of each cluster (local rows, cluster-major) and their counts
    for lab, out in zip(labels, out_local):
        rows, lb = _race_index(lab, out)
        lo = np.searchsorted(lb, clusters.astype(lb.dtype))
        hi = np.searchsorted(lb, (clusters + 1).astype(lb.dtype))
        local = np.concatenate([rows[a:b] for a, b in zip(lo, hi)]) if clusters.size else rows[:0]
        found.append((local, hi - lo))
    counts = sum((n for _, n in found), np.zeros(clusters.size, np.int64))
    cuts = np.concatenate([[0], np.cumsum(counts)])
    F, filled = None, cuts[:-1].copy()  # where each cluster's next members go
    for (local, n), block in zip(found, blocks):
        if local.size == 0:
            continue
        # each member's row of F: its cluster's next free rows, in the chunk's order
        dest = np.arange(local.size) + np.repeat(filled - (np.cumsum(n) - n), n)
        filled += n
        order = np.argsort(local, kind="stable")  # ascending rows: reads in file order
        U = unit_rows_float32(take_rows(block, local[order]))
        if F is None:
            F = np.empty((int(cuts[-1]), U.shape[1]), dtype=np.float32)
        F[dest[order]] = U  # one copy into place, cluster-major
    return cuts, (np.empty((0, 0), np.float32) if F is None else F)


def _task_coarse(group, visits, refs):
    """Each visit's ``TYPICALITY_CANDIDATES`` best members of a group of chunks by coarse typicality.

    ``group``: :func:`_group` of the group's chunks for the visits' clusters, in
    order. ``visits``: ``(j, cluster, first position, ranks of the references
    in this group, k')``; ``refs[j]``: the visit's reference rows. Returns, per
    visit, ``(keys, positions)`` (positions among the cluster's members).
    """
    cuts, F = group
    out = []
    for i, (j, _, pos0, ref_ranks, k_ref) in enumerate(visits):
        m = slice(int(cuts[i]), int(cuts[i + 1]))
        size = m.stop - m.start
        if size == 0:
            out.append((np.empty(0), np.empty(0, np.int64)))
            continue
        is_ref = np.zeros(size, dtype=bool)
        is_ref[ref_ranks] = True
        keys = coarse_typicality(F[m], refs[j], is_ref, int(k_ref))
        pos = pos0 + np.arange(size, dtype=np.int64)
        keep = best_keys(keys, pos, TYPICALITY_CANDIDATES)
        out.append((keys[keep], pos[keep]))
    return out


def _task_merge_coarse(parts):
    """Merge chunk results of :func:`_task_coarse` (aligned per visit): the best keys of all of them."""
    out = []
    for per_visit in zip(*parts):
        keys = np.concatenate([k for k, _ in per_visit])
        pos = np.concatenate([p for _, p in per_visit])
        keep = best_keys(keys, pos, TYPICALITY_CANDIDATES)
        out.append((keys[keep], pos[keep]))
    return out


def _task_candidate_knn(group, visits, cands):
    """Squared distances of each visit's candidates to their nearest members in a group of chunks.

    ``group``: as for :func:`_task_coarse`. ``visits``: ``(j, cluster, kk)``;
    ``cands[j]``: the candidates' rows. Returns one (candidates, kk) float64
    array per visit, ascending, padded with inf where the group holds fewer
    than ``kk`` members.
    """
    cuts, F = group
    out = []
    for i, (j, _, kk) in enumerate(visits):
        m = slice(int(cuts[i]), int(cuts[i + 1]))
        C = cands[j]
        D = np.full((C.shape[0], kk), np.inf)
        if m.stop > m.start:
            q = min(kk, m.stop - m.start)
            D[:, :q] = knn_sq_distances(F[m], C, q)
        out.append(D)
    return out


def _task_merge_knn(parts, kk):
    """Merge :func:`_task_candidate_knn` results (aligned per visit): the ``kk`` nearest of all."""
    return [np.sort(np.concatenate(per_visit, axis=1), axis=1)[:, :kk] for per_visit in zip(*parts)]


def held_limit():
    """Bytes of members a batch may hold on the workers: ``TYPICAL_HELD_BYTES``, and at most a
    quarter of what the workers have left under their memory limits (when they report one)."""
    left = workers_memory_left()
    return TYPICAL_HELD_BYTES if left is None else min(TYPICAL_HELD_BYTES, left // 4)


def _groups_of(chunk_bytes, limit):
    """Consecutive chunks grouped up to ``limit`` bytes of the batch's members (at least one chunk
    each): the first chunk of each group, and the number of chunks."""
    starts, held = [0], 0
    for c, b in enumerate(np.asarray(chunk_bytes).tolist()):
        if held and held + b > limit:
            starts.append(c)
            held = 0
        held += b
    return starts + [len(chunk_bytes)]


def _tree(delayed, parts, merge, *args):
    """Merge per-chunk results in a tree of :data:`MERGE_FANOUT` (one result reaches the client)."""
    while len(parts) > 1:
        parts = [
            delayed(merge, pure=False)(parts[i : i + MERGE_FANOUT], *args)
            for i in range(0, len(parts), MERGE_FANOUT)
        ]
    return parts[0]


def shared_input(delayed, obj):
    """``obj`` for many tasks: on a distributed cluster, one copy on every worker (scattered)
    so that the tasks go where their chunk's labels are; else one Delayed."""
    client = current_client()
    if client is not None:
        return client.scatter(obj, broadcast=True, hash=False)
    return delayed(obj, pure=True)


class UnitRows:
    """Rows of a source L2-normalized as float32 when read by index (TypiClust's ``F``).

    The rows of the cluster last listed by :meth:`ChunkedClusterPool.members`
    came with the listing (``remember``): reading exactly those is served
    without a second round trip.
    """

    def __init__(self, source, traffic=None):
        self.source, self.traffic = source, traffic
        self.shape = (source.n, source.d)
        self._rows = self._X = None

    def remember(self, rows, X):
        self._rows, self._X = rows, X

    def __getitem__(self, rows):
        rows = np.asarray(rows)
        if self._rows is not None and rows.shape == self._rows.shape and np.array_equal(rows, self._rows):
            return unit_rows_float32(self._X)
        return unit_rows_float32(gather_rows(self.source, rows, self.traffic, "members"))


class ChunkedClusterPool(ValidatedPool, ClusterPool):
    """:class:`~subsel_plugins.backends.ClusterPool` over a row-chunked source (module docstring).

    A first pass validates the source (NaN or infinity: an error naming the
    first bad row); features of extreme magnitude are read rescaled by an
    exact power of two (``e``), which changes no normalized row.

    Attributes
    ----------
    source : RowSource
        The rows as read (rescaled when ``e``); ``X`` for the in-cluster choice.
    unit_rows : UnitRows
        Their L2-normalized rows by index; ``F`` for the in-cluster choice.
    stats : dict
        ``passes``, and from :meth:`finish_stats` ``traffic``, ``seconds``, ``chunks``.
    """

    def __init__(self, source):
        self._start(source, clusters_visited=0, scored_on_workers=0)
        self.unit_rows = UnitRows(self.source, self.traffic)
        self._out = np.empty(0, dtype=np.int64)  # rows out of the race, sorted
        self.visit_batch = max(1, TYPICAL_BATCH_BYTES // (TYPICALITY_REFS * max(1, self.d) * 4))

    def fit(self, n_clusters, seed):
        centroids = sample_kmeans_centroids(self.unit_rows.__getitem__, self.n, n_clusters, seed)
        self.labels, self.chunk_sizes = assign_to_centroids(self, centroids, "assign", per_chunk=True)
        self.out_counts = np.zeros_like(self.chunk_sizes)  # rows out of the race, per chunk and cluster
        self._known = {}  # cluster of rows whose label the client has seen
        return self.chunk_sizes.sum(axis=0)

    def labels_of(self, rows):
        got = labels_at(self, self.labels, rows)
        self._known.update(zip(np.asarray(rows, dtype=np.int64).tolist(), got.tolist()))
        return got

    def take(self, rows):
        rows = np.setdiff1d(np.asarray(rows, dtype=np.int64), self._out)
        unknown = [r for r in rows.tolist() if r not in self._known]
        if unknown:
            self.labels_of(unknown)
        if rows.size:
            np.add.at(
                self.out_counts, (self.source.chunk_of(rows), [self._known[r] for r in rows.tolist()]), 1
            )
        self._out = np.union1d(self._out, rows)

    def most_typical(self, clusters, k_neighbors, rng):
        """``(row, typicality)`` of each visit's most typical member still in the race (module docstring).

        The same draws from ``rng``, in the same order, as
        ``TypiClustQuery._pick_in_cluster`` on one machine; ``clusters`` are
        distinct. Four rounds: reads of a few rows (one task per chunk), and
        two distance rounds of one task per group of consecutive chunks
        (``TYPICAL_GROUP_BYTES`` of the batch's members), which read and
        normalize only those members, once, and hold them between the two
        rounds: the visits are taken in consecutive runs whose members fit
        ``TYPICAL_HELD_BYTES``.
        """
        clusters = np.asarray(clusters, dtype=np.int64)
        members = (self.chunk_sizes[:, clusters] - self.out_counts[:, clusters]).sum(axis=0)
        limit = held_limit()
        runs = _groups_of(members * max(1, self.d) * 4, limit)
        picks = []
        for a, b in zip(runs[:-1], runs[1:]):
            picks += self._most_typical_run(clusters[a:b], k_neighbors, rng, limit)
        return picks

    def _most_typical_run(self, clusters, k_neighbors, rng, limit):
        """:meth:`most_typical` for visits whose members fit ``limit`` bytes (or one visit)."""
        dask, delayed = self._dask, self._delayed
        clusters = np.asarray(clusters, dtype=np.int64)
        n_chunks = self.source.n_chunks
        avail = self.chunk_sizes[:, clusters] - self.out_counts[:, clusters]  # (chunks, visits)
        first = np.vstack([np.zeros((1, clusters.size), np.int64), np.cumsum(avail, axis=0)])
        n_in = first[-1]
        out_local = split_by_chunk(self.source, self._out)
        labels, blocks = self.labels, [self.source.block_task(c) for c in range(n_chunks)]
        big, refs_pos = [], {}  # visits scored on the workers; their reference positions and k'
        for j, n in enumerate(n_in.tolist()):
            if n > TYPICALITY_REFS + TYPICALITY_CANDIDATES:
                refs_pos[j] = typical_refs(n, cluster_k(k_neighbors, n), rng)
                big.append(j)

        def by_chunk(j, positions, starts=range(n_chunks + 1)):
            """``positions`` among visit j's members split by chunk (or by group: ``starts``), local."""
            edges = first[list(starts), j]
            c = np.searchsorted(edges, positions, side="right") - 1
            return [positions[c == g] - edges[g] for g in range(len(edges) - 1)]

        groups = _groups_of(avail[:, big].sum(axis=1) * max(1, self.d) * 4, TYPICAL_GROUP_BYTES)
        grouped = [slice(a, b) for a, b in zip(groups[:-1], groups[1:])]

        # (A) the references of the large visits; every member of the small ones
        split = {j: by_chunk(j, refs_pos[j][0]) for j in big}
        rows_of = self._rows_by_rank(
            labels,
            blocks,
            out_local,
            [
                [(clusters[j], split[j][c] if j in split else None) for j in range(clusters.size)]
                for c in range(n_chunks)
            ],
        )
        picks = [None] * clusters.size
        for j in range(clusters.size):
            rows, F = rows_of[j]
            if j not in split:
                typ = typicality(F, cluster_k(k_neighbors, rows.size))
                best = int(np.argmax(typ))
                picks[j] = (int(rows[best]), float(typ[best]))
        if big:
            refs = shared_input(delayed, np.stack([rows_of[j][1] for j in big]))
            # the batch's members, read and normalized once per group and held until round (D)
            # when they fit the limit (else each round reads them again)
            group = delayed(_group, pure=False)
            held = [group(labels[g], blocks[g], out_local[g], clusters[big]) for g in grouped]
            if int(avail[:, big].sum()) * max(1, self.d) * 4 <= limit:
                held = list(dask.persist(*held))
            # (B) coarse typicality on the workers, the 128 best merged in a tree
            in_group = {j: by_chunk(j, refs_pos[j][0], groups) for j in big}
            parts = [
                delayed(_task_coarse, pure=False)(
                    held[gi],
                    [
                        (i, clusters[j], first[g.start, j], in_group[j][gi], refs_pos[j][1])
                        for i, j in enumerate(big)
                    ],
                    refs,
                )
                for gi, g in enumerate(grouped)
            ]
            (best,) = dask.compute(_tree(delayed, parts, _task_merge_coarse))
            del refs
            # (C) the candidates' rows
            cand = {j: by_chunk(j, best[i][1]) for i, j in enumerate(big)}
            got = self._rows_by_rank(
                labels, blocks, out_local, [[(clusters[j], cand[j][c]) for j in big] for c in range(n_chunks)]
            )
            kk = {j: cluster_k(k_neighbors, n_in[j]) + 1 for j in big}
            cands = shared_input(delayed, np.stack([F for _, F in got]))
            # (D) each candidate's nearest members, merged in a tree; its exact typicality
            parts = [
                delayed(_task_candidate_knn, pure=False)(
                    held[gi], [(i, clusters[j], kk[j]) for i, j in enumerate(big)], cands
                )
                for gi in range(len(grouped))
            ]
            kk_max = max(kk.values())
            (near,) = dask.compute(_tree(delayed, parts, _task_merge_knn, kk_max))
            del cands, held
            for i, j in enumerate(big):
                typ = typicality_from_sq(near[i][:, 1 : kk[j]])
                b = int(np.argmax(typ))
                picks[j] = (int(got[i][0][b]), float(typ[b]))
            self.traffic.add(
                "typical",
                to_client=nbytes(best) + nbytes(near),
                to_workers=(TYPICALITY_REFS + TYPICALITY_CANDIDATES) * len(big) * self.d * 4,
                tasks=2 * len(grouped),
                rounds=2,
            )
        self._known.update((row, int(clusters[j])) for j, (row, _) in enumerate(picks))
        self.stats["clusters_visited"] += clusters.size
        self.stats["scored_on_workers"] += len(big)
        return picks

    def _rows_by_rank(self, labels, blocks, out_local, requests):
        """One task per chunk reads ``requests[c]`` (:func:`_task_rows_by_rank`); per request across the
        chunks (in chunk order: ascending positions), ``(global rows, unit rows)``."""
        dask, delayed = self._dask, self._delayed
        todo = [c for c in range(len(blocks)) if any(r is None or len(r) for _, r in requests[c])]
        parts = dask.compute(
            *[
                delayed(_task_rows_by_rank, pure=False)(labels[c], blocks[c], out_local[c], requests[c])
                for c in todo
            ]
        )
        n_req = len(requests[0]) if requests else 0
        out = []
        for i in range(n_req):
            rows = [self.source.starts[c] + p[i][0] for c, p in zip(todo, parts)]
            F = [p[i][1] for p in parts]
            out.append(
                (
                    np.concatenate(rows) if rows else np.empty(0, np.int64),
                    np.concatenate(F) if F else np.empty((0, self.d), np.float32),
                )
            )
        self.traffic.add("typical", to_client=nbytes(parts), to_workers=nbytes(requests), tasks=len(todo))
        return out

    def members(self, cluster):
        """One task per chunk lists the cluster's rows and reads them (one round trip per visit).

        Sources read by :class:`BlockRef` (shards, zarr, seeded rows) read the
        rows in the listing task; a dask array's rows are gathered after it
        (reading a few rows computes their chunk).
        """
        dask, delayed = self._dask, self._delayed
        refs = [self.source.block_task(c) for c in range(self.source.n_chunks)]
        fused = all(isinstance(r, BlockRef) for r in refs)
        parts = dask.compute(
            *[
                delayed(_task_members)(lab, ref if fused else None, int(cluster))
                for lab, ref in zip(self.labels, refs)
            ]
        )
        rows = np.concatenate([self.source.starts[c] + loc for c, (loc, _) in enumerate(parts)])
        free = ~np.isin(rows, self._out, assume_unique=True)
        rows = rows[free]
        if fused:
            X = np.concatenate([x for _, x in parts])[free]
        else:
            X = gather_rows(self.source, rows, self.traffic, "members")
        self.unit_rows.remember(rows, X)
        self.stats["clusters_visited"] += 1
        self.traffic.add("members", to_client=rows.nbytes + X.nbytes, tasks=len(parts))
        return rows
