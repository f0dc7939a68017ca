"""Framework (ii): a d x C linear classifier on the subset's features."""

from __future__ import annotations

import math

import numpy as np

from ._base import EvalData, Evaluator, require_torch, resolve_device, torch_generator

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
    device : str or None, default="auto"
        CUDA when available.
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
        device="auto",
    ):
        self.lr = lr
        self.epochs = epochs
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.schedule = schedule
        self.normalize = normalize
        self.device = device

    def _check_params(self):
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise ValueError(f"{name} must be a finite number >= 0 (lr > 0); got {v!r}.")
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise ValueError(f"epochs must be an int >= 1; got {self.epochs!r}.")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1
        ):
            raise ValueError(f"batch_size must be None or an int >= 1; got {self.batch_size!r}.")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant'; got {self.schedule!r}.")
        if self.normalize not in _NORMALIZE:
            raise ValueError(f"normalize must be one of {_NORMALIZE}; got {self.normalize!r}.")

    def _transform(self, data: EvalData):
        train = np.asarray(data.train_features, dtype=np.float32)
        test = np.asarray(data.test_features, dtype=np.float32)
        if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
            raise ValueError(
                f"train_features and test_features must be 2-D with the same width; got shapes "
                f"{train.shape} and {test.shape}."
            )
        if self.normalize == "standard":
            mu = train.mean(axis=0)
            sd = train.std(axis=0)
            sd[sd == 0] = 1.0
            return (train - mu) / sd, (test - mu) / sd
        if self.normalize == "l2":

            def l2(a):
                n = np.linalg.norm(a, axis=1, keepdims=True)
                return a / np.maximum(n, 1e-12)

            return l2(train), l2(test)
        return train, test

    def _evaluate(self, data: EvalData, labeled: np.ndarray, seed: int) -> dict:
        self._check_params()
        require_torch("linear_probe")
        import torch

        train, test = self._transform(data)
        device = resolve_device(self.device)
        X = torch.as_tensor(train[labeled], device=device)
        y = torch.as_tensor(data.train_labels[labeled], device=device)
        C = int(data.num_classes)
        W = torch.zeros(X.shape[1], C, device=device, requires_grad=True)
        b = torch.zeros(C, device=device, requires_grad=True)
        opt = torch.optim.SGD([W, b], lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        n = X.shape[0]
        bs = n if self.batch_size is None else min(int(self.batch_size), n)
        steps_per_epoch = math.ceil(n / bs)
        total = self.epochs * steps_per_epoch
        sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
            if self.schedule == "cosine"
            else None
        )
        g = torch_generator(seed)
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=g).to(device) if bs < n else None
            for s in range(steps_per_epoch):
                rows = order[s * bs : (s + 1) * bs] if order is not None else slice(None)
                loss = torch.nn.functional.cross_entropy(X[rows] @ W + b, y[rows])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
        with torch.no_grad():
            Xt = torch.as_tensor(test, device=device)
            pred = (Xt @ W + b).argmax(dim=1).cpu().numpy()
        acc = float(np.mean(pred == data.test_labels))
        return {"accuracy": acc, "train_loss": float(loss.detach().cpu())}
