"""Framework (ii): a d x C linear classifier on the subset's features."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidValueError
from ._base import EvalData, Evaluator

_NORMALIZE = (None, "l2", "standard")


class LinearProbe(Evaluator):
    """Linear probe: softmax regression on the labeled rows' features (the paper's framework ii).

    The paper trains a d x C linear classifier on self-supervised features
    with a learning rate of 2.5 for 400 epochs. That learning rate is only
    stable on features of unit scale, so features are L2-normalized first by
    default (as the TypiClust/ProbCover code the paper builds on does); the
    weights start at zero, which makes the (convex) fit independent of the
    seed up to mini-batch order.

    Parameters
    ----------
    lr : float, default=2.5
    epochs : int, default=400
    momentum : float, default=0.9
    weight_decay : float, default=0.0
    batch_size : int or None, default=None
        None trains full-batch (one step per epoch), the natural reading of
        the paper for subsets of at most a few hundred rows.
    schedule : {"cosine", "constant"}, default="cosine"
    normalize : {"l2", "standard", None}, default="l2"
        ``"standard"`` standardizes with the mean and std of the whole
        (unlabeled) training pool, which a semi-supervised setting may use.
    """

    needs = frozenset({"features"})

    def __init__(
        self,
        lr=2.5,
        epochs=400,
        momentum=0.9,
        weight_decay=0.0,
        batch_size=None,
        schedule="cosine",
        normalize="l2",
    ):
        self.lr = lr
        self.epochs = epochs
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.schedule = schedule
        self.normalize = normalize

    def _check_params(self):
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise InvalidValueError(f"{name} must be a finite number >= 0 (lr > 0); got {v!r}.")
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise InvalidValueError(f"epochs must be an int >= 1; got {self.epochs!r}.")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1
        ):
            raise InvalidValueError(f"batch_size must be None or an int >= 1; got {self.batch_size!r}.")
        if self.schedule not in ("cosine", "constant"):
            raise InvalidValueError(f"schedule must be 'cosine' or 'constant'; got {self.schedule!r}.")
        if self.normalize not in _NORMALIZE:
            raise InvalidValueError(f"normalize must be one of {_NORMALIZE}; got {self.normalize!r}.")

    def _transform(self, data: EvalData, labeled):
        """Normalized features of the labeled rows, (n_labeled, d), and of the test split, (n_test, d)."""
        pool = data.train_features
        test = np.asarray(data.test_features, dtype=np.float32)
        if np.ndim(pool) != 2 or test.ndim != 2 or pool.shape[1] != test.shape[1]:
            raise InvalidValueError(
                f"train_features and test_features must be 2-D with the same width; got shapes "
                f"{np.shape(pool)} and {test.shape}."
            )
        # only the labeled rows are read: the pool may be a large memory map
        train = np.asarray(pool[labeled], dtype=np.float32)
        if self.normalize == "standard":
            # statistics of the whole (unlabeled) pool, in blocks; kept for the
            # next call on the same pool (held by reference: no stale identity match)
            cached = getattr(self, "_pool_stats", None)
            if cached is not None and cached[0] is pool:
                mu, sd = cached[1], cached[2]
                return (train - mu) / sd, (test - mu) / sd
            n, d = pool.shape
            s1, s2 = np.zeros(d), np.zeros(d)
            for start in range(0, n, 16384):
                blk = np.asarray(pool[start : start + 16384], dtype=np.float64)
                s1 += blk.sum(0)
                s2 += (blk * blk).sum(0)
            mu = s1 / n
            sd = np.sqrt(np.maximum(s2 / n - mu * mu, 0.0))
            sd[sd == 0] = 1.0
            mu, sd = mu.astype(np.float32), sd.astype(np.float32)
            self._pool_stats = (pool, mu, sd)
            return (train - mu) / sd, (test - mu) / sd
        if self.normalize == "l2":

            def l2(a):
                n = np.linalg.norm(a, axis=1, keepdims=True)
                return a / np.maximum(n, 1e-12)

            return l2(train), l2(test)
        return train, test

    def _evaluate(self, data: EvalData, labeled: np.ndarray, seed: int) -> dict:
        self._check_params()
        train, test = self._transform(data, labeled)
        # float64 numpy: at d x C with a few hundred rows a step costs
        # microseconds, far below a framework's per-step overhead, and the
        # result does not depend on thread scheduling.
        X = train.astype(np.float64)
        y = data.train_labels[labeled]
        n, d = X.shape
        C = int(data.num_classes)
        Y = np.zeros((n, C))
        Y[np.arange(n), y] = 1.0
        W = np.zeros((d, C))
        b = np.zeros(C)
        vW = np.zeros_like(W)
        vb = np.zeros_like(b)
        bs = n if self.batch_size is None else min(int(self.batch_size), n)
        steps_per_epoch = math.ceil(n / bs)
        total = self.epochs * steps_per_epoch
        rng = np.random.default_rng(seed)
        step = 0
        loss = 0.0
        for _ in range(self.epochs):
            order = rng.permutation(n) if bs < n else np.arange(n)
            for s in range(steps_per_epoch):
                rows = order[s * bs : (s + 1) * bs]
                Xb, Yb = X[rows], Y[rows]
                logits = Xb @ W + b
                logits -= logits.max(axis=1, keepdims=True)
                P = np.exp(logits)
                P /= P.sum(axis=1, keepdims=True)
                loss = float(-np.mean(np.log(np.maximum((P * Yb).sum(axis=1), 1e-300))))
                G = (P - Yb) / len(rows)
                gW = Xb.T @ G + self.weight_decay * W
                gb = G.sum(axis=0)
                lr = self.lr
                if self.schedule == "cosine":
                    # torch's CosineAnnealingLR, closed form
                    lr = 0.5 * self.lr * (1.0 + math.cos(math.pi * step / total))
                # torch.optim.SGD's momentum: v = mu * v + g; p -= lr * v
                vW = self.momentum * vW + gW
                vb = self.momentum * vb + gb
                W -= lr * vW
                b -= lr * vb
                step += 1
        pred = np.argmax(test.astype(np.float64) @ W + b, axis=1)
        acc = float(np.mean(pred == data.test_labels))
        return {"accuracy": acc, "train_loss": loss}
