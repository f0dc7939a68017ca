"""Small backbones registered with semilearn's network builder, for semi-supervised runs on a CPU.

semilearn's zoo starts at WRN-28-2 (1.5M parameters, about 1-2 s per
FlexMatch iteration on a CPU at 32 x 32): far too slow to converge on a
laptop. :func:`register_nets` adds the networks below to ``semilearn.nets``,
where ``get_net_builder(net, net_from_name=False)`` looks names up, so a
USB config selects one with ``net: subsel_cnn`` like any other.
"""

from __future__ import annotations

#: Network names this module registers, with a one-line description.
NETS = {
    "subsel_cnn": "a 4-conv CNN (16-32-64-64 channels, two of stride 2, BatchNorm; 0.06M parameters)",
}


def subsel_cnn(num_classes: int, pretrained: bool = False, pretrained_path=None, **kwargs):
    """A small CNN in semilearn's network interface: ``forward(x, only_fc, only_feat)`` -> dict.

    Four 3 x 3 convolutions (16, 32, 64 and 64 channels, the first and third
    of stride 2, each with BatchNorm and LeakyReLU 0.1 as in WRN), global
    average pooling and a linear classifier: about 3M multiply-adds per 28 x 28
    image. Measured on the shared 2-core machine: a forward and backward pass
    of a FlexMatch batch (112 images) costs 0.16 s under load, against 0.27 s
    for the same widths at full resolution with max-pooling and 1-2 s for
    WRN-28-2. Input: (n, 3, H, W)
    with H, W >= 4 (semilearn's pipeline converts grey images to RGB).

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` returns ``{"logits": (n, num_classes), "feat": (n, 64)}``;
        ``num_features`` is 64 (SimMatch's projection head reads it).
    """
    if pretrained:
        raise ValueError("subsel_cnn has no pretrained weights; set use_pretrain: False.")
    return _SmallCNN(num_classes)


def _build_class():
    import torch.nn as nn
    import torch.nn.functional as F

    def block(cin, cout, stride=1):
        return [
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout, momentum=0.1, eps=0.001),
            nn.LeakyReLU(0.1),
        ]

    class SmallCNN(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.num_features = 64
            self.features = nn.Sequential(
                *block(3, 16, stride=2),
                *block(16, 32),
                *block(32, 64, stride=2),
                *block(64, 64),
            )
            self.classifier = nn.Linear(64, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")
                elif isinstance(m, nn.Linear):
                    nn.init.xavier_normal_(m.weight)
                    nn.init.zeros_(m.bias)

        def forward(self, x, only_fc=False, only_feat=False, **kwargs):
            if only_fc:
                return self.classifier(x)
            feat = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
            if only_feat:
                return feat
            return {"logits": self.classifier(feat), "feat": feat}

        def group_matcher(self, coarse=False, prefix=""):
            # semilearn's layer-wise lr decay reads this; one group per conv stage
            return {"stem": rf"^{prefix}features\.0", "blocks": rf"^{prefix}features\.(\d+)"}

        def no_weight_decay(self):
            # as WRN's: no weight decay on BatchNorm parameters and biases
            bn = {
                f"{m}.{p}"
                for m, mod in self.named_modules()
                if isinstance(mod, nn.BatchNorm2d)
                for p in ("weight", "bias")
            }
            return [n for n, _ in self.named_parameters() if n in bn or n.endswith("bias")]

    SmallCNN.__name__ = SmallCNN.__qualname__ = "SmallCNN"
    return SmallCNN


class _Lazy:
    cls = None


def _SmallCNN(num_classes):
    if _Lazy.cls is None:
        _Lazy.cls = _build_class()
    return _Lazy.cls(num_classes)


def register_nets() -> list[str]:
    """Add :data:`NETS` to ``semilearn.nets`` (idempotent); returns their names.

    A name semilearn already defines is left alone (its network wins).
    """
    import semilearn.nets as nets

    for name in NETS:
        if getattr(nets, name, None) is None:
            setattr(nets, name, globals()[name])
    return list(NETS)
