"""Framework (i): a network trained from scratch on the subset's images only."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidValueError
from ._base import EvalData, Evaluator, require_torch, resolve_device, torch_generator

ARCHS = ("resnet18", "small_cnn")


def build_model(arch: str, in_channels: int, num_classes: int, width: int = 32):
    """The network for ``arch``.

    ``resnet18`` is torchvision's ResNet-18 with the CIFAR stem (3x3 stride-1
    first convolution, no max-pool) that the paper's small-image experiments
    use; ``small_cnn`` is a three-block CNN (``width``, ``2 width``, ``4 width``
    channels) for CPU runs on tiny inputs.
    """
    import torch
    from torch import nn

    if arch == "resnet18":
        import torchvision

        model = torchvision.models.resnet18(num_classes=num_classes)
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
        return model
    if arch == "small_cnn":

        def block(cin, cout):
            return [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        w = int(width)
        return nn.Sequential(
            *block(in_channels, w),
            *block(w, 2 * w),
            nn.MaxPool2d(2),
            *block(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * w, num_classes),
        ).to(torch.float32)
    raise InvalidValueError(f"arch must be one of {ARCHS}; got {arch!r}.")


class SupervisedTrainer(Evaluator):
    """Fully supervised training from scratch on the labeled subset (the paper's framework i).

    Defaults are the paper's: ResNet-18, 200 epochs, SGD with Nesterov
    momentum 0.9, lr 0.025 with a cosine schedule, batch size
    ``max(#labeled, 100)`` (so a subset of at most 100 images is one batch and
    one step per epoch), weight decay 3e-4, random crop (zero padding) and
    horizontal flip.

    Parameters
    ----------
    arch : {"resnet18", "small_cnn"}, default="resnet18"
    width : int, default=32
        Channels of the first ``small_cnn`` block (ResNet-18 ignores it).
    epochs : int, default=200
    lr : float, default=0.025
    momentum : float, default=0.9
    nesterov : bool, default=True
    weight_decay : float, default=3e-4
    batch_size : int or None, default=None
        None means ``max(#labeled, min_batch_size)``.
    min_batch_size : int, default=100
    crop_padding : int or None, default=None
        Padding of the random crop; None means ``input_size // 8`` (4 pixels
        at 32 x 32, as in CIFAR training); 0 turns cropping off.
    flip : bool, default=True
        Random horizontal flip (turn off for digits, which flipping changes).
    input_size : int or None, default=None
        Resize images (bilinear) to this side first; None keeps their size.
    eval_batch_size : int, default=1024
    device : str or None, default="auto"
    """

    needs = frozenset({"images"})
    needs_device = True

    def __init__(
        self,
        arch="resnet18",
        width=32,
        epochs=200,
        lr=0.025,
        momentum=0.9,
        nesterov=True,
        weight_decay=3e-4,
        batch_size=None,
        min_batch_size=100,
        crop_padding=None,
        flip=True,
        input_size=None,
        eval_batch_size=1024,
        device="auto",
    ):
        self.arch = arch
        self.width = width
        self.epochs = epochs
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.min_batch_size = min_batch_size
        self.crop_padding = crop_padding
        self.flip = flip
        self.input_size = input_size
        self.eval_batch_size = eval_batch_size
        self.device = device

    def _check_params(self):
        if self.arch not in ARCHS:
            raise InvalidValueError(f"arch must be one of {ARCHS}; got {self.arch!r}.")
        for name in ("width", "epochs", "min_batch_size", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise InvalidValueError(f"{name} must be an int >= 1; got {v!r}.")
        for name in ("batch_size", "input_size"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, np.integer)) or v < 1):
                raise InvalidValueError(f"{name} must be None or an int >= 1; got {v!r}.")
        if self.crop_padding is not None and (
            not isinstance(self.crop_padding, (int, np.integer)) or self.crop_padding < 0
        ):
            raise InvalidValueError(f"crop_padding must be None or an int >= 0; got {self.crop_padding!r}.")
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise InvalidValueError(f"{name} must be a finite number >= 0 (lr > 0); got {v!r}.")
        if self.nesterov and self.momentum == 0:
            raise InvalidValueError("nesterov=True needs momentum > 0; got momentum=0.")

    def _to_tensor(self, images, rows=None):
        """uint8 NHWC -> float32 NCHW in [0, 1], resized to ``input_size``."""
        import torch

        arr = np.asarray(images if rows is None else images[rows])
        if arr.ndim == 3:
            arr = arr[..., None]
        if arr.ndim != 4:
            raise InvalidValueError(f"images must be (n, H, W, C) or (n, H, W); got shape {arr.shape}.")
        t = torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
        if self.input_size is not None and t.shape[-1] != self.input_size:
            t = torch.nn.functional.interpolate(
                t, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        return t

    def _augment(self, x, g):
        """Random crop with zero padding and random horizontal flip, per image."""
        import torch

        side = x.shape[-1]
        pad = self.crop_padding if self.crop_padding is not None else max(side // 8, 1)
        if pad:
            padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
            offs = torch.randint(0, 2 * pad + 1, (x.shape[0], 2), generator=g)
            x = torch.stack(
                [
                    padded[i, :, dy : dy + x.shape[-2], dx : dx + side]
                    for i, (dy, dx) in enumerate(offs.tolist())
                ]
            )
        if self.flip:
            flip = torch.rand(x.shape[0], generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def _evaluate(self, data: EvalData, labeled: np.ndarray, seed: int) -> dict:
        self._check_params()
        require_torch("supervised")
        import torch

        device = resolve_device(self.device)
        x_lab = self._to_tensor(data.train_images, labeled)
        # Per-channel statistics of the labeled images only: a fully supervised
        # learner sees nothing else.
        mean = x_lab.mean(dim=(0, 2, 3), keepdim=True)
        std = (
            x_lab.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
            if len(x_lab) > 1
            else torch.ones_like(mean)
        )
        y_lab = torch.as_tensor(data.train_labels[labeled])
        C = int(data.num_classes)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_model(self.arch, x_lab.shape[1], C, self.width)
        model = model.to(device)
        opt = torch.optim.SGD(
            model.parameters(),
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
        )
        n = len(labeled)
        bs = self.batch_size if self.batch_size is not None else max(n, self.min_batch_size)
        bs = min(bs, n)
        steps_per_epoch = math.ceil(n / bs)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * steps_per_epoch)
        g = torch_generator(seed)
        model.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=g)
            for s in range(steps_per_epoch):
                rows = order[s * bs : (s + 1) * bs]
                xb = self._augment(x_lab[rows], g)
                xb = ((xb - mean) / std).to(device)
                loss = torch.nn.functional.cross_entropy(model(xb), y_lab[rows].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        correct = 0
        n_test = len(data.test_labels)
        with torch.no_grad():
            for start in range(0, n_test, self.eval_batch_size):
                rows = np.arange(start, min(start + self.eval_batch_size, n_test))
                xb = ((self._to_tensor(data.test_images, rows) - mean) / std).to(device)
                pred = model(xb).argmax(dim=1).cpu().numpy()
                correct += int((pred == data.test_labels[rows]).sum())
        return {"accuracy": correct / n_test, "train_loss": float(loss.detach().cpu())}
