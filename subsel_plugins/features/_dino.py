"""DINO ViT-S/16 from a local checkpoint file (no network, no torch.hub)."""

from __future__ import annotations

import math

from ..errors import InvalidValueError
from ._base import FeatureExtractor
from ._checkpoint import load_state_dict, strip_prefixes, unwrap_state_dict
from ._torch import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    normalize,
    require_torch,
    resolve_device,
    run_batched,
    to_tensor,
)


def vit_small_patch16(img_size: int = 224):
    """DINO's ``vit_small`` (patch 16, dim 384, depth 12, 6 heads, MLP 4x, qkv bias, LayerNorm eps 1e-6).

    Module names match the official ``dino_deitsmall16_pretrain.pth`` state
    dict (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.N.attn.qkv``,
    ...), so it loads with ``strict=True``. ``forward`` returns the final
    normalised [CLS] token, (n, 384): DINO's feature.
    """
    torch = require_torch()
    nn = torch.nn
    dim, depth, heads, patch = 384, 12, 6, 16

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.num_heads = heads
            self.qkv = nn.Linear(dim, dim * 3, bias=True)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            out = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
            return self.proj(out.transpose(1, 2).reshape(b, n, c))

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(dim, 4 * dim)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(4 * dim, dim)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention()
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = Mlp()

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class PatchEmbed(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

        def forward(self, x):
            return self.proj(x).flatten(2).transpose(1, 2)

    class VisionTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = PatchEmbed()
            n_patches = (img_size // patch) ** 2
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, dim))
            self.blocks = nn.ModuleList([Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            self.out_dim = dim

        def interpolate_pos_encoding(self, n_tokens, h, w):
            # DINO's bicubic resize of the patch position grid to another input size
            n_pos = self.pos_embed.shape[1] - 1
            if n_tokens - 1 == n_pos and h == w:
                return self.pos_embed
            cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
            side = int(math.sqrt(n_pos))
            grid = patch_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2)
            grid = torch.nn.functional.interpolate(
                grid, size=(h // patch, w // patch), mode="bicubic", align_corners=False
            )
            return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)

        def forward(self, x):
            h, w = x.shape[-2:]
            x = self.patch_embed(x)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            x = x + self.interpolate_pos_encoding(x.shape[1], h, w)
            for blk in self.blocks:
                x = blk(x)
            return self.norm(x)[:, 0]

    return VisionTransformer()


class DinoViTS16(FeatureExtractor):
    """384-d [CLS] features of DINO ViT-S/16, loaded from a local checkpoint.

    Parameters
    ----------
    checkpoint : path
        The official ``dino_deitsmall16_pretrain.pth`` (a plain state dict), or a
        DINO training checkpoint (its ``teacher`` weights are used, with
        ``module.``/``backbone.`` prefixes removed and the projection head
        dropped). Loaded with ``weights_only=True``.
    image_size : int
        Resize to ``image_size x image_size``; a multiple of 16 (224 as DINO trained).
    batch_size : int
    device : str
    progress : bool or None
    """

    name = "dino_vits16"

    def __init__(self, checkpoint=None, image_size=224, batch_size=64, device="auto", progress=None):
        self.checkpoint = checkpoint
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device
        self.progress = progress

    def _file_params(self):
        return ("checkpoint",)

    def _model(self):
        if self.checkpoint is None:
            raise InvalidValueError(
                "dino_vits16 needs checkpoint= a local copy of the official DINO ViT-S/16 weights "
                "(dino_deitsmall16_pretrain.pth from the DINO authors' release); nothing is downloaded."
            )
        if not (isinstance(self.image_size, int) and self.image_size >= 16 and self.image_size % 16 == 0):
            raise InvalidValueError(f"image_size must be a positive multiple of 16; got {self.image_size!r}.")
        key = (str(self.checkpoint), str(self.device))
        cached = getattr(self, "_model_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        sd = unwrap_state_dict(
            load_state_dict(self.checkpoint, "dino_vits16 checkpoint"), ("teacher", "state_dict")
        )
        sd = strip_prefixes(sd, ("module.", "backbone."))
        sd = {k: v for k, v in sd.items() if not k.startswith("head.")}
        if "pos_embed" not in sd:
            raise InvalidValueError(
                f"dino_vits16 checkpoint {self.checkpoint} has no 'pos_embed': not a ViT state dict "
                f"(first keys: {list(sd)[:5]})."
            )
        side = int(math.isqrt(sd["pos_embed"].shape[1] - 1)) * 16
        model = vit_small_patch16(side)
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise InvalidValueError(
                f"dino_vits16 checkpoint {self.checkpoint} does not fit ViT-S/16: {exc}"
            ) from None
        model = model.eval().to(resolve_device(self.device))
        self._model_cache = (key, model)
        return model

    def _transform(self, images):
        model = self._model()
        device = resolve_device(self.device)

        def forward(batch):
            x = to_tensor(batch, device, self.image_size)
            return model(normalize(x, IMAGENET_MEAN, IMAGENET_STD))

        return run_batched(forward, images, self.batch_size, device, self.name, self.progress)
