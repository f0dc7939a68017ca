"""SimCLR trained in the project, and SCAN-format SimCLR checkpoints.

Chen et al., *A Simple Framework for Contrastive Learning of Visual
Representations* (2020): two augmented views of every image, a ResNet-18
backbone and an MLP projection head, the NT-Xent loss; the features are the
backbone's pooled output. The augmentations run batched on tensors (crops
through ``roi_align``), so training needs no per-image Python loop.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

from ..errors import InvalidValueError
from ._base import FeatureExtractor
from ._checkpoint import load_state_dict, strip_prefixes, unwrap_state_dict
from ._resnet import check_stem, pick_stem, resnet18_backbone
from ._torch import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    as_nhwc_uint8,
    normalize,
    progress,
    require_torch,
    resolve_device,
    run_batched,
    to_tensor,
)

#: Training presets. ``paper``: the paper's GPU recipe. ``cpu``: a width-16
#: ResNet-18 (128-d features) at 16x16 pixels on a 10k-image subset for 15
#: epochs -- a Fashion-MNIST encoder in well under an hour on 2 CPU cores
#: (docs/guide/datasets.md gives the measured time and accuracy).
PRESETS = {
    "paper": dict(
        epochs=500, train_batch_size=512, lr=0.4, weight_decay=1e-4, width=64, n_train=None, image_size=None
    ),
    "cpu": dict(
        epochs=15, train_batch_size=128, lr=0.3, weight_decay=5e-4, width=16, n_train=10000, image_size=16
    ),
}

#: Channel statistics SCAN trained its CIFAR checkpoints with.
NORM_STATS = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def simclr_augment(x, generator, crop_scale=(0.2, 1.0), jitter=0.4, hue=0.1, p_jitter=0.8, p_gray=0.2):
    """SimCLR's augmentations, batched: one random draw per image.

    Random resized crop (area ``crop_scale``, aspect 3/4..4/3) back to the
    input size, horizontal flip (p=0.5), colour jitter (brightness, contrast,
    saturation ``jitter``, hue ``hue``; applied with ``p_jitter``) and random
    grayscale (``p_gray``).

    Parameters
    ----------
    x : tensor of shape (n, 3, H, W), float in [0, 1]
    generator : torch.Generator on x's device

    Returns
    -------
    tensor of shape (n, 3, H, W)
    """
    torch = require_torch()
    F = torch.nn.functional

    n, _, H, W = x.shape
    dev = x.device

    def u(lo, hi, *shape):
        return torch.rand(n, *shape, generator=generator, device=dev) * (hi - lo) + lo

    # random resized crop and flip as one affine resampling (affine_grid works in [-1, 1] coordinates)
    area = u(*crop_scale)
    ratio = torch.exp(u(math.log(3 / 4), math.log(4 / 3)))
    sw = torch.sqrt(area * ratio).clamp(max=1.0)
    sh = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (u(0, 1) * 2 - 1) * (1 - sw)
    cy = (u(0, 1) * 2 - 1) * (1 - sh)
    flip = torch.where(u(0, 1) < 0.5, -1.0, 1.0).to(x.dtype)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = sw * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = sh, cy
    grid = F.affine_grid(theta, [n, 3, H, W], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def gray(t):
        return (0.299 * t[:, 0:1] + 0.587 * t[:, 1:2] + 0.114 * t[:, 2:3]).expand_as(t)

    jit = (u(0, 1) < p_jitter).view(n, 1, 1, 1)
    j = out * u(1 - jitter, 1 + jitter).view(n, 1, 1, 1)
    j = j.clamp(0, 1)
    m = gray(j).mean(dim=(1, 2, 3), keepdim=True)
    j = ((j - m) * u(1 - jitter, 1 + jitter).view(n, 1, 1, 1) + m).clamp(0, 1)
    g = gray(j)
    j = ((j - g) * u(1 - jitter, 1 + jitter).view(n, 1, 1, 1) + g).clamp(0, 1)
    if hue > 0:
        # hue shift as a rotation of the chroma plane in YIQ space
        theta = u(-hue, hue) * (2 * math.pi)
        yiq = torch.tensor(
            [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
            device=dev,
            dtype=x.dtype,
        )
        rgb = torch.linalg.inv(yiq)
        c, s = torch.cos(theta), torch.sin(theta)
        rot = torch.zeros(n, 3, 3, device=dev, dtype=x.dtype)
        rot[:, 0, 0] = 1
        rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -s, s, c
        mat = rgb @ rot @ yiq  # (n, 3, 3)
        j = torch.einsum("nij,njhw->nihw", mat, j).clamp(0, 1)
    out = torch.where(jit, j, out)

    gmask = (u(0, 1) < p_gray).view(n, 1, 1, 1)
    return torch.where(gmask, gray(out), out).contiguous()


def nt_xent(z1, z2, temperature: float):
    """NT-Xent over a batch of positive pairs (z1[i], z2[i]); the other 2n-2 rows are negatives."""
    torch = require_torch()
    F = torch.nn.functional
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def _build(width: int, stem: str, proj_dim: int = 128):
    torch = require_torch()
    nn = torch.nn

    class SimCLRModel(nn.Module):
        # module names follow SCAN's ContrastiveModel, so its checkpoints map by key
        def __init__(self):
            super().__init__()
            self.backbone = resnet18_backbone(width, stem)
            d = self.backbone.out_dim
            self.contrastive_head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, proj_dim))

        def forward(self, x):
            return self.contrastive_head(self.backbone(x))

    return SimCLRModel()


def convert_scan_state_dict(sd: dict) -> dict:
    """A SCAN (or TypiClust/ProbCover) SimCLR checkpoint's keys -> this module's keys.

    SCAN's CIFAR ResNet names the projection shortcut ``shortcut``, torchvision
    ``downsample``; ``module.`` prefixes come from DataParallel.
    """
    sd = strip_prefixes(unwrap_state_dict(sd), ("module.",))
    out = {}
    for key, value in sd.items():
        if not (key.startswith("backbone.") or key.startswith("contrastive_head.")):
            continue  # e.g. SCAN's cluster heads
        out[key.replace(".shortcut.", ".downsample.")] = value
    return out


class SimCLR(FeatureExtractor):
    """Backbone features of a SimCLR-trained ResNet-18.

    Without ``checkpoint`` the encoder is trained by :meth:`fit` (which
    :func:`~subsel_plugins.features.load_or_compute` calls on the dataset's
    train split and caches); with one, it loads a SCAN-format or
    :meth:`save_encoder` file and needs no training.

    Parameters
    ----------
    preset : {"cpu", "paper"}
        Default training recipe (``PRESETS``); any explicit argument overrides it.
        ``paper``: 500 epochs, batch 512, lr 0.4, weight decay 1e-4, full
        ResNet-18. ``cpu``: width-16 ResNet-18 (128-d features) at 16x16
        pixels, 10k-image subset, 15 epochs, batch 128, lr 0.3.
    checkpoint : path or None
        SimCLR weights: SCAN's ``simclr_*.pth.tar`` (keys ``backbone.*``,
        ``contrastive_head.*``; ``model``/``state_dict`` wrappers accepted) or a
        file written by :meth:`save_encoder`. Loaded with ``weights_only=True``.
    epochs, train_batch_size, lr, weight_decay, width, n_train : optional
        Override the preset. ``n_train``: train on a seeded random subset of
        this many images (None: all).
    temperature : float
        NT-Xent temperature.
    image_size : int or None
        Resize to ``image_size x image_size`` (training and features). None:
        the preset's (``cpu``: 16, ``paper``: the images' own size); with a
        checkpoint, None keeps the images' size.
    stem : {"auto", "cifar", "imagenet"}
    norm_stats : {"imagenet", "cifar10", "cifar100"} or None
        Input normalisation; None: ``cifar10`` for SCAN checkpoints (what SCAN
        used), ``imagenet`` otherwise.
    seed : int
        Seeds the initialisation, the subset, the batch order and the augmentations.
    batch_size : int
        Inference batch size (runtime only).
    device : str
    progress : bool or None
    """

    name = "simclr"

    def __init__(
        self,
        preset="cpu",
        checkpoint=None,
        epochs=None,
        train_batch_size=None,
        lr=None,
        weight_decay=None,
        width=None,
        n_train=None,
        temperature=0.1,
        image_size=None,
        stem="auto",
        norm_stats=None,
        seed=0,
        batch_size=256,
        device="auto",
        progress=None,
    ):
        self.preset = preset
        self.checkpoint = checkpoint
        self.epochs = epochs
        self.train_batch_size = train_batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.width = width
        self.n_train = n_train
        self.temperature = temperature
        self.image_size = image_size
        self.stem = stem
        self.norm_stats = norm_stats
        self.seed = seed
        self.batch_size = batch_size
        self.device = device
        self.progress = progress

    @property
    def requires_fit(self) -> bool:
        return self.checkpoint is None

    def _file_params(self):
        return ("checkpoint",)

    def cache_key(self) -> str:
        """As the base class's, plus the resolved training recipe: editing a preset changes the key."""
        key = json.loads(super().cache_key())
        if self.checkpoint is None:
            key["recipe"] = self.recipe()
        return json.dumps(key, sort_keys=True, default=repr)

    def recipe(self) -> dict:
        """The training settings in force: the preset overridden by explicit arguments."""
        if self.preset not in PRESETS:
            raise InvalidValueError(f"preset must be one of {sorted(PRESETS)}; got {self.preset!r}.")
        r = dict(PRESETS[self.preset])
        for key in r:
            if getattr(self, key) is not None:
                r[key] = getattr(self, key)
        if r["image_size"] is not None and not (
            isinstance(r["image_size"], int | np.integer) and r["image_size"] >= 1
        ):
            raise InvalidValueError(
                f"image_size must be a positive integer or None; got {r['image_size']!r}."
            )
        for key in ("epochs", "train_batch_size", "width"):
            if not (isinstance(r[key], int | np.integer) and r[key] >= 1):
                raise InvalidValueError(f"{key} must be a positive integer; got {r[key]!r}.")
        if r["n_train"] is not None and not (
            isinstance(r["n_train"], int | np.integer) and r["n_train"] >= 2
        ):
            raise InvalidValueError(f"n_train must be an integer >= 2 or None; got {r['n_train']!r}.")
        for key in ("lr", "weight_decay"):
            if not (isinstance(r[key], int | float) and r[key] >= 0):
                raise InvalidValueError(f"{key} must be a non-negative number; got {r[key]!r}.")
        if not (isinstance(self.temperature, int | float) and self.temperature > 0):
            raise InvalidValueError(f"temperature must be a positive number; got {self.temperature!r}.")
        return r

    def _stats(self):
        stats = self.norm_stats
        if stats is None:
            stats = "cifar10" if getattr(self, "scan_format_", False) else "imagenet"
        if stats not in NORM_STATS:
            raise InvalidValueError(
                f"norm_stats must be one of {sorted(NORM_STATS)} or None; got {self.norm_stats!r}."
            )
        return NORM_STATS[stats]

    # training -------------------------------------------------------------

    def fit(self, images, y=None):
        """Train the encoder on ``images`` (uint8 NHWC) with SimCLR; a no-op with ``checkpoint``.

        Sets ``model_`` (backbone + head), ``loss_history_`` (mean loss per
        epoch) and ``fit_seconds_``.
        """
        if self.checkpoint is not None:
            self._load_checkpoint()
            return self
        torch = require_torch()
        r = self.recipe()
        check_stem(self.stem)
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.seed)
        data = _training_images(images, r, rng)
        side = data.shape[-1]
        stem = pick_stem(self.stem, min(data.shape[-2:]))
        torch.manual_seed(int(self.seed))
        model = _build(r["width"], stem).to(device)
        t0 = time.perf_counter()
        history = self._train(model, data, r, rng, device)
        model.eval()
        self.model_ = model
        self.input_side_ = side
        self.image_size_ = r["image_size"]
        self.loss_history_ = history
        self.fit_seconds_ = time.perf_counter() - t0
        self.scan_format_ = False
        return self

    def _train(self, model, data, r, rng, device) -> list:
        """SGD with warm-up and cosine decay on NT-Xent; returns the mean loss of each epoch."""
        torch = require_torch()
        bs = min(r["train_batch_size"], len(data))
        steps_per_epoch = max(1, len(data) // bs)  # drop the ragged last batch: BN needs full batches
        opt, sched = _optimizer(model, r, steps_per_epoch)
        gen = torch.Generator(device=device).manual_seed(int(self.seed))
        mean, std = self._stats()
        history = []
        model.train()
        bar = progress(
            range(r["epochs"]),
            r["epochs"],
            "simclr epochs",
            self.progress if self.progress is not None else True,
        )
        for _epoch in bar:
            perm = torch.from_numpy(rng.permutation(len(data)))
            losses = []
            for s in range(steps_per_epoch):
                xb = data[perm[s * bs : (s + 1) * bs]].to(device).float().div_(255)
                v1 = normalize(simclr_augment(xb, gen), mean, std)
                v2 = normalize(simclr_augment(xb, gen), mean, std)
                z = model(torch.cat([v1, v2]))
                loss = nt_xent(z[: len(xb)], z[len(xb) :], self.temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            history.append(float(np.mean(losses)))
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{history[-1]:.3f}")
            if not np.isfinite(history[-1]):
                raise FloatingPointError(
                    f"SimCLR loss became {history[-1]} in epoch {_epoch + 1}; lower lr (now {r['lr']})."
                )
        return history

    # checkpoints ------------------------------------------------------------

    def save_encoder(self, path) -> None:
        """Write the trained backbone and head as a plain state dict (loadable with ``weights_only``)."""
        torch = require_torch()
        self._check_fitted()
        torch.save({k: v.detach().cpu() for k, v in self.model_.state_dict().items()}, path)

    def load_encoder(self, path):
        """Load weights written by :meth:`save_encoder` (or SCAN's format) into this extractor.

        Features are then taken at the training recipe's ``image_size``, as after :meth:`fit`.
        """
        self._load_file(path)
        self.image_size_ = self.recipe()["image_size"] if self.checkpoint is None else self.image_size
        return self

    def _load_checkpoint(self):
        if getattr(self, "model_", None) is None or getattr(self, "_loaded_from", None) != self.checkpoint:
            self._load_file(self.checkpoint)
            self._loaded_from = self.checkpoint

    def _load_file(self, path):
        sd = load_state_dict(path, "simclr checkpoint")
        scan = (
            any(".shortcut." in k for k in unwrap_state_dict(sd))
            or "model" in sd
            or any(k.startswith("module.") for k in sd)
        )
        sd = convert_scan_state_dict(sd)
        if "backbone.conv1.weight" not in sd:
            raise InvalidValueError(
                f"simclr checkpoint {path} has no 'backbone.conv1.weight': not a SimCLR ResNet-18 "
                f"checkpoint (first keys: {list(sd)[:5]})."
            )
        conv1 = sd["backbone.conv1.weight"]
        width, ksize = int(conv1.shape[0]), int(conv1.shape[-1])
        stem = "cifar" if ksize == 3 else "imagenet"
        proj = int(sd["contrastive_head.2.weight"].shape[0]) if "contrastive_head.2.weight" in sd else 128
        model = _build(width, stem, proj)
        if "contrastive_head.0.weight" not in sd:
            sd = {
                **sd,
                **{f"contrastive_head.{k}": v for k, v in model.contrastive_head.state_dict().items()},
            }
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise InvalidValueError(
                f"simclr checkpoint {path} does not fit a width-{width} ResNet-18: missing keys "
                f"{missing[:5]}, unexpected keys {unexpected[:5]}."
            )
        self.model_ = model.eval().to(resolve_device(self.device))
        self.scan_format_ = scan
        self.image_size_ = self.image_size
        return self

    def _check_fitted(self):
        if getattr(self, "model_", None) is None:
            raise RuntimeError(
                "this SimCLR extractor has no encoder yet: call fit(train_images) first, pass "
                "checkpoint=..., or use subsel_plugins.features.load_or_compute, which trains "
                "and caches it."
            )

    def _transform(self, images):
        if self.checkpoint is not None:
            self._load_checkpoint()
        self._check_fitted()
        device = resolve_device(self.device)
        model = self.model_.to(device).eval()
        mean, std = self._stats()
        # a trained encoder sees images at the size it was trained on; a checkpoint at image_size
        size = getattr(self, "image_size_", None) if self.checkpoint is None else self.image_size

        def forward(batch):
            return model.backbone(normalize(to_tensor(as_nhwc_uint8(batch), device, size), mean, std))

        return run_batched(forward, images, self.batch_size, device, self.name, self.progress)


def _training_images(images, r, rng):
    """The training subset (``r["n_train"]`` drawn with ``rng``) as a uint8 tensor, resized once."""
    torch = require_torch()
    n_all = len(images)
    if n_all < 2:
        raise InvalidValueError(f"images: SimCLR needs at least 2 images to train; got {n_all}.")
    idx = np.arange(n_all)
    if r["n_train"] is not None and r["n_train"] < n_all:
        idx = np.sort(rng.choice(n_all, size=r["n_train"], replace=False))
    # the training subset in memory, resized once (the crops resample anyway)
    return torch.cat(
        [
            to_tensor(
                images[idx[s : s + 1024]]
                if isinstance(images, np.ndarray)
                else np.stack([np.asarray(images[int(i)]) for i in idx[s : s + 1024]]),
                "cpu",
                r["image_size"],
            )
            .mul_(255)
            .to(torch.uint8)
            for s in range(0, len(idx), 1024)
        ]
    )


def _optimizer(model, r, steps_per_epoch):
    """SGD (momentum 0.9) and its schedule: linear warm-up, then cosine to zero."""
    torch = require_torch()
    total = r["epochs"] * steps_per_epoch
    opt = torch.optim.SGD(model.parameters(), lr=r["lr"], momentum=0.9, weight_decay=r["weight_decay"])
    warmup = min(total // 10, 10 * steps_per_epoch)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
