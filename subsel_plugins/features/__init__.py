"""Feature extractors (feature domains) and the on-disk feature cache.

Build extractors by name with :func:`subsel_plugins.get_feature_extractor`;
each maps uint8 NHWC images to float32 (n, d) features. torch is imported only
when a torch-based extractor runs (``pip install 'subsel-plugins[torch]'``).
"""

from ._base import FeatureExtractor
from ._cache import default_cache_dir, load_or_compute
from ._checkpoint import UnsafeCheckpointError, load_state_dict
from ._dino import DinoViTS16
from ._efficientnet import EfficientNetLite0
from ._raw import RawPixels
from ._resnet import RandomResNet18
from ._simclr import SimCLR

__all__ = [
    "FeatureExtractor",
    "RawPixels",
    "RandomResNet18",
    "SimCLR",
    "DinoViTS16",
    "EfficientNetLite0",
    "load_or_compute",
    "default_cache_dir",
    "load_state_dict",
    "UnsafeCheckpointError",
]
