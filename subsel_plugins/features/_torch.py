"""Shared torch plumbing: lazy import, device choice, preprocessing, batched inference.

torch is an optional extra: nothing here imports it at module import time.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidTypeError, InvalidValueError, MissingDependencyError

#: ImageNet channel statistics (torchvision models, DINO).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def require_torch():
    """Import torch and torchvision, or fail naming the extra that brings them."""
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"this feature extractor needs torch and torchvision ({exc}); install the extra: "
            "pip install 'subsel-plugins[torch]'"
        ) from None
    return torch


def resolve_device(device: str | None = "auto"):
    """``"auto"`` (or None): CUDA when available, else CPU; anything else is passed to torch.device."""
    torch = require_torch()
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r} ({exc})."
        ) from None


def check_images(images, name: str = "images") -> None:
    """Fail early on something that is not an NHWC image array."""
    if not hasattr(images, "__len__") or not hasattr(images, "__getitem__"):
        raise InvalidTypeError(
            f"{name} must be an array-like of shape (n, height, width, channels); got {type(images)}."
        )
    if len(images) == 0:
        raise InvalidValueError(f"{name} is empty; expected at least one image.")


def as_nhwc_uint8(batch, name: str = "images") -> np.ndarray:
    """One batch as a uint8 (n, H, W, C) array; (n, H, W) gets a channel axis.

    Float input is taken as [0, 1] intensities (the common ``ToTensor`` range).
    """
    arr = np.asarray(batch)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise InvalidValueError(
            f"{name} must have shape (n, height, width, channels) or (n, height, width); "
            f"got shape {arr.shape}."
        )
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
        elif np.issubdtype(arr.dtype, np.integer):
            if arr.min(initial=0) < 0 or arr.max(initial=0) > 255:
                raise InvalidValueError(
                    f"{name}: integer pixel values must lie in 0..255; got {arr.min()}..{arr.max()}."
                )
            arr = arr.astype(np.uint8)
        else:
            raise InvalidTypeError(f"{name} must hold uint8 pixels; got dtype {arr.dtype}.")
    return arr


def to_tensor(batch, device, size: int | None = None, channels: int = 3):
    """uint8 NHWC batch -> float NCHW tensor in [0, 1] on ``device``.

    Grey images are replicated to ``channels``; an alpha channel is dropped;
    ``size`` resizes (bilinear, antialiased) to ``size x size``.
    """
    torch = require_torch()
    arr = as_nhwc_uint8(batch)
    x = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    c = x.shape[1]
    if c == 4:
        x = x[:, :3]
        c = 3
    if c != channels:
        if c == 1:
            x = x.expand(-1, channels, -1, -1)
        elif channels == 1:
            x = x.mean(dim=1, keepdim=True)
        else:
            raise InvalidValueError(
                f"images have {c} channels; expected 1, 3 or 4 (the model takes {channels})."
            )
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x.contiguous()


def normalize(x, mean, std):
    torch = require_torch()
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def iter_batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def progress(iterable, total: int, desc: str, enabled):
    """tqdm around ``iterable`` when ``enabled`` (None: only for long work, > 20 steps)."""
    if enabled is None:
        enabled = total > 20
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar, same work
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False)


def run_batched(forward, images, batch_size: int, device, desc: str, show_progress=None) -> np.ndarray:
    """Apply ``forward(uint8 NHWC batch) -> tensor (b, d)`` over ``images`` in batches.

    ``images`` may be a lazy array-like: only one batch is in memory at a time.
    Returns float32 (n, d).
    """
    torch = require_torch()
    check_images(images)
    n = len(images)
    out = None
    steps = (n + batch_size - 1) // batch_size
    with torch.inference_mode():
        for start, stop in progress(iter_batches(n, batch_size), steps, desc, show_progress):
            feats = forward(images[start:stop]).float().cpu().numpy()
            if out is None:
                out = np.empty((n, feats.shape[1]), dtype=np.float32)
            out[start:stop] = feats
    return out
