"""The built-in feature extractors, registered as a plugin like any third-party one."""

from ..hookspecs import hookimpl
from ._dino import DinoViTS16
from ._efficientnet import EfficientNetLite0
from ._raw import RawPixels
from ._resnet import RandomResNet18
from ._simclr import SimCLR


@hookimpl
def subsel_register_feature_extractors(register):
    register("raw", RawPixels, "flattened pixels in [0, 1] (the paper's RGB-space ablation)")
    register("random_resnet18", RandomResNet18, "512-d features of a seeded random-init ResNet-18 (torch)")
    register("simclr", SimCLR, "ResNet-18 trained with SimCLR in the project, or a SCAN checkpoint (torch)")
    register("dino_vits16", DinoViTS16, "DINO ViT-S/16 from a local checkpoint file, 384-d (torch)")
    register(
        "efficientnet_lite0", EfficientNetLite0, "ImageNet-pretrained EfficientNet-Lite0, 1280-d (torch)"
    )
