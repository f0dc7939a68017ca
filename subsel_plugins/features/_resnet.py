"""ResNet-18 backbones and the random-init ResNet-18 feature domain (paper Fig. 4a)."""

from __future__ import annotations

from ..errors import InvalidValueError
from ._base import FeatureExtractor
from ._torch import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    normalize,
    require_torch,
    resolve_device,
    run_batched,
    to_tensor,
)

#: Images at most this many pixels on a side get the CIFAR stem under ``stem="auto"``.
SMALL_IMAGE = 64


def check_stem(stem):
    if stem not in ("auto", "cifar", "imagenet"):
        raise InvalidValueError(f"stem must be 'auto', 'cifar' or 'imagenet'; got {stem!r}.")


def pick_stem(stem: str, side: int) -> str:
    if stem == "auto":
        return "cifar" if side <= SMALL_IMAGE else "imagenet"
    return stem


def resnet18_backbone(width: int = 64, stem: str = "cifar"):
    """A ResNet-18 without its classifier: images (n, 3, H, W) -> features (n, 8 * width).

    Same module names as torchvision's ``resnet18`` (``conv1``, ``bn1``,
    ``layer1.0.conv1``, ``layer2.0.downsample.0``, ...), so its state dicts
    interchange at ``width=64``. ``width`` scales every layer (64 is the
    standard ResNet-18; 16 costs about 1/16 of the compute). The CIFAR stem is
    a 3x3 stride-1 convolution with no max-pool, for small images.
    """
    torch = require_torch()
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            if stem == "cifar":
                self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
                self.maxpool = nn.Identity()
            else:
                self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.bn1 = nn.BatchNorm2d(w)
            self.relu = nn.ReLU(inplace=True)
            chans = [w, 2 * w, 4 * w, 8 * w]
            cin = w
            for i, cout in enumerate(chans):
                stride = 1 if i == 0 else 2
                setattr(
                    self,
                    f"layer{i + 1}",
                    nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)),
                )
                cin = cout
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.out_dim = 8 * w
            for m in self.modules():  # torchvision's initialisation
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return torch.flatten(self.avgpool(x), 1)

    return ResNet18()


class RandomResNet18(FeatureExtractor):
    """Penultimate (512-d) features of a randomly initialised torchvision ResNet-18.

    The paper's random-network feature domain (Fig. 4a). The weights come from
    torchvision's initialisation under ``torch.manual_seed(seed)``; batch-norm
    layers run in eval mode with their initial statistics (mean 0, variance 1),
    so the features depend only on the seed and the image.

    Parameters
    ----------
    seed : int
        Seed of the random initialisation.
    stem : {"auto", "cifar", "imagenet"}
        ``cifar`` replaces the 7x7 stride-2 convolution and max-pool by a 3x3
        stride-1 convolution, keeping small images' spatial detail; ``auto``
        picks it for images of at most 64 pixels a side (after ``image_size``).
    image_size : int or None
        Resize images to ``image_size x image_size`` first; None keeps their size.
    batch_size : int
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``...
    progress : bool or None
        Progress bar; None shows one on long work.
    """

    name = "random_resnet18"

    def __init__(self, seed=0, stem="auto", image_size=None, batch_size=256, device="auto", progress=None):
        self.seed = seed
        self.stem = stem
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device
        self.progress = progress

    def _model(self, side: int):
        torch = require_torch()
        import torchvision

        check_stem(self.stem)
        stem = pick_stem(self.stem, side)
        key = (stem, str(self.device))
        cached = getattr(self, "_model_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        # a private seeded stream: the caller's global RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            model = torchvision.models.resnet18(weights=None)
            if stem == "cifar":
                model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
                # the same kaiming-normal (fan_out) init torchvision gives its own stem
                torch.nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
                model.maxpool = torch.nn.Identity()
        model.fc = torch.nn.Identity()
        model = model.eval().to(resolve_device(self.device))
        self._model_cache = (key, model)
        return model

    def _transform(self, images):
        device = resolve_device(self.device)
        side = self.image_size or min(as_side(images))
        model = self._model(side)

        def forward(batch):
            x = to_tensor(batch, device, self.image_size)
            return model(normalize(x, IMAGENET_MEAN, IMAGENET_STD))

        return run_batched(forward, images, self.batch_size, device, self.name, self.progress)


def as_side(images):
    first = images[0:1]
    import numpy as np

    shape = np.asarray(first).shape
    return shape[1], shape[2]
