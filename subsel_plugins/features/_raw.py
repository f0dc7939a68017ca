"""Raw pixels: the paper's RGB-space ablation."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidValueError
from ._base import FeatureExtractor
from ._torch import as_nhwc_uint8, check_images


class RawPixels(FeatureExtractor):
    """Flattened pixels scaled to [0, 1]: (n, H * W * C) float32. Needs no torch.

    Parameters
    ----------
    image_size : int or None
        Resize to ``image_size x image_size`` first (bilinear, needs Pillow);
        None keeps the size, so all images must share one.
    grayscale : bool
        Average the colour channels into one.
    batch_size : int
        Images converted at a time (lazy datasets are read batch by batch).
    """

    name = "raw"

    def __init__(self, image_size=None, grayscale=False, batch_size=4096):
        self.image_size = image_size
        self.grayscale = grayscale
        self.batch_size = batch_size

    def _transform(self, images):
        check_images(images)
        if self.image_size is not None and not (isinstance(self.image_size, int) and self.image_size >= 1):
            raise InvalidValueError(
                f"image_size must be a positive integer or None; got {self.image_size!r}."
            )
        n = len(images)
        out = None
        for start in range(0, n, self.batch_size):
            batch = as_nhwc_uint8(images[start : start + self.batch_size])
            if self.image_size is not None and batch.shape[1:3] != (self.image_size, self.image_size):
                batch = _resize(batch, self.image_size)
            x = batch.astype(np.float32) / np.float32(255.0)
            if self.grayscale and x.shape[-1] > 1:
                x = x[..., :3].mean(axis=-1, keepdims=True)
            x = x.reshape(len(x), -1)
            if out is None:
                out = np.empty((n, x.shape[1]), dtype=np.float32)
            elif x.shape[1] != out.shape[1]:
                raise InvalidValueError(
                    f"images differ in size ({x.shape[1]} vs {out.shape[1]} values per image); "
                    "pass image_size= to resize them to one size."
                )
            out[start : start + len(x)] = x
        return out


def _resize(batch: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(batch), size, size, batch.shape[-1]), dtype=np.uint8)
    for i, img in enumerate(batch):
        im = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        r = np.asarray(im.resize((size, size), Image.BILINEAR))
        out[i] = r[..., None] if r.ndim == 2 else r
    return out
