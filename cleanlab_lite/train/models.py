"""Networks: a fast airbench-style CNN for small images, torchvision architectures by name for
larger ones, and an MLP / linear model for tabular features and embeddings.

Every model starts with a normalisation layer whose statistics are buffers, so a saved
state_dict is self-contained: images go in as float 0..255 (N, C, H, W), tabular rows as raw
float32 (N, D). The statistics come from the training folds only (see `fit_input_stats`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from cleanlab_lite.errors import ConfigError, UserInputError

TABULAR_MODELS = ("mlp", "linear")
IMAGE_MODELS = ("cnn",)
# torchvision classification architectures we know how to adapt (input channels, head size).
TORCHVISION_MODELS = (
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "wide_resnet50_2",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_v2_s", "convnext_tiny", "convnext_small", "convnext_base",
    "mobilenet_v3_small", "mobilenet_v3_large", "regnet_y_400mf", "regnet_y_800mf",
    "densenet121", "vit_b_16", "swin_t",
)
SMALL_IMAGE_MAX = 64          # pixels: images up to this side default to the fast CNN

# Each torchvision family's classifier, by name prefix: the dotted path of the nn.Linear that
# maps features to classes (the last nn.Linear in module order is not always it: in swin_t it
# sits in the last block's MLP).
HEADS = {
    "resnet": "fc", "resnext": "fc", "wide_resnet": "fc", "regnet": "fc",
    "efficientnet": "classifier.1", "mobilenet_v3": "classifier.3", "convnext": "classifier.2",
    "densenet": "classifier", "vit": "heads.head", "swin": "head",
}
# Smallest image side (pixels) each family accepts, found with a forward pass at every side
# 1..40 (tests/train/test_models.py checks the boundary): convnext's stride-4 stem and three
# 2x2 downsamplings need 32, densenet's three 2x2 average pools need 29, swin's patch
# embedding 4. The others run down to 1 px. vit_b_16 is built for the data's side (square,
# a multiple of its 16 px patch), see `check_input_size`.
MIN_SIDE = {"convnext": 32, "densenet": 29, "swin": 4}
VIT_PATCH = 16
VIT_PRETRAINED_SIDE = 224     # torchvision's ViT weights hold position embeddings for 224 px


def _family(name: str) -> str:
    for prefix in sorted(HEADS, key=len, reverse=True):
        if name.startswith(prefix):
            return prefix
    raise ConfigError(f"--model {name}: no known classifier head for this torchvision "
                      f"architecture; use one of {', '.join(TORCHVISION_MODELS)}")


class Normalize(nn.Module):
    """(x - mean) / std with per-channel (images) or per-feature (tabular) buffers."""

    def __init__(self, n: int, image: bool):
        super().__init__()
        self.image = image
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image:
            return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)
        return (x - self.mean) / self.std


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU()]


class FastCNN(nn.Module):
    """Airbench-style net: a 3x3 stem, then blocks of conv -> maxpool -> BN -> GELU -> conv -> BN
    -> GELU, a global max pool and a linear head whose logits are scaled down (1/`head_scale`),
    which keeps early training stable at high learning rates.

    widths: (stem, block1, block2, ...); a block only pools while the feature map is >= 2 px.
    """

    def __init__(self, in_ch: int, num_classes: int, size: int, widths: tuple[int, ...],
                 head_scale: float = 1 / 9):
        super().__init__()
        self.norm = Normalize(in_ch, image=True)
        layers: list[nn.Module] = _conv_bn(in_ch, widths[0])
        cin, side = widths[0], size
        for w in widths[1:]:
            layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False)]
            if side >= 2:
                layers += [nn.MaxPool2d(2)]
                side //= 2
            layers += [nn.BatchNorm2d(w), nn.GELU(), *_conv_bn(w, w)]
            cin = w
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(cin, num_classes, bias=False)
        self.head_scale = head_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.body(self.norm(x))).flatten(1)
        return self.head(x) * self.head_scale


class MLP(nn.Module):
    """Standardize -> [Linear -> BatchNorm -> ReLU -> Dropout] x depth -> Linear.
    depth 0 is multinomial logistic regression (the `linear` model)."""

    def __init__(self, d_in: int, num_classes: int, hidden: int, depth: int, dropout: float = 0.1):
        super().__init__()
        self.norm = Normalize(d_in, image=False)
        layers: list[nn.Module] = []
        d = d_in
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout)]
            d = hidden
        layers.append(nn.Linear(d, num_classes))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.norm(x))


def resolve_model_name(name: str, kind: str, shape: tuple[int, ...],
                       pretrained: str | None = None) -> str:
    """Turn `auto` into a concrete model name and check the name fits the data kind and, for
    images, the image size (see `check_input_size`).

    shape: X.shape without N, i.e. (C, H, W) for images or (D,) for tabular/embeddings.
    """
    name = name.lower()
    if kind != "image":
        if name == "auto":
            return "mlp"
        if name not in TABULAR_MODELS:
            raise ConfigError(f"--model {name} does not fit {kind} data; use one of "
                              f"{', '.join(TABULAR_MODELS)} (or auto)")
        return name
    if name == "auto":
        return "cnn" if max(shape[1:]) <= SMALL_IMAGE_MAX else "resnet18"
    if name in IMAGE_MODELS or name in TORCHVISION_MODELS:
        check_input_size(name, shape, pretrained)
        return name
    valid = ", ".join(("auto",) + IMAGE_MODELS + TORCHVISION_MODELS)
    raise ConfigError(f"--model {name!r} is not a known image model; use one of {valid}")


def check_backbone(name: str, shape: tuple[int, ...] | None = None,
                   pretrained: str | None = None) -> None:
    """Raise ConfigError (exit 2, before any run file is written) unless `name` is a --backbone
    this package can embed with: one of TORCHVISION_MODELS (whose classifier head is known), for
    images of `shape` (C, H, W) when given (see `check_input_size`)."""
    if name not in TORCHVISION_MODELS:
        raise ConfigError(f"--backbone {name!r} is not a torchvision model this package can embed "
                          f"with; use one of {', '.join(TORCHVISION_MODELS)}")
    if shape is not None:
        check_input_size(name, shape, pretrained, option="--backbone")


def check_input_size(name: str, shape: tuple[int, ...], pretrained: str | None = None,
                     option: str = "--model") -> None:
    """Raise ConfigError (one line, with the fix) when images of `shape` (C, H, W) are too small
    or oddly sized for torchvision model `name` (given as `option`); other names are accepted at
    any size."""
    if name not in TORCHVISION_MODELS:
        return
    h, w = int(shape[1]), int(shape[2])
    family = _family(name)
    if family == "vit":
        if pretrained and (h, w) != (VIT_PRETRAINED_SIDE, VIT_PRETRAINED_SIDE):
            raise ConfigError(
                f"{option} {name} with --pretrained needs {VIT_PRETRAINED_SIDE}x{VIT_PRETRAINED_SIDE} "
                f"images (the weights' position embeddings are for that size); these are {h}x{w}: "
                f"pass --image-size {VIT_PRETRAINED_SIDE}")
        if h != w or h % VIT_PATCH:
            side = max(2 * VIT_PATCH, VIT_PATCH * math.ceil(max(h, w) / VIT_PATCH))
            raise ConfigError(
                f"{option} {name} needs square images whose side is a multiple of {VIT_PATCH} px; "
                f"these are {h}x{w}: pass --image-size {side} (or 224), or use another {option}")
        return
    need = MIN_SIDE.get(family, 1)
    if min(h, w) < need:
        other = ("--model cnn or resnet18, which take" if option == "--model"
                 else f"{option} resnet18, which takes")
        raise ConfigError(f"{option} {name} needs images of at least {need}x{need} px; these are "
                          f"{h}x{w}: pass --image-size {need} (or larger), or use {other} any size")


def build_model(name: str, shape: tuple[int, ...], num_classes: int, *, hidden: int = 256,
                widths: tuple[int, ...] = (64, 256, 256), pretrained: str | None = None) -> nn.Module:
    """A freshly initialised model for inputs of `shape` (without N)."""
    if name == "mlp":
        return MLP(shape[0], num_classes, hidden, depth=2)
    if name == "linear":
        return MLP(shape[0], num_classes, hidden, depth=0)
    if name == "cnn":
        if pretrained:
            raise ConfigError("--pretrained applies to torchvision models (e.g. --model resnet18), "
                              "not to the built-in cnn; drop --pretrained or pick a torchvision model")
        c, h, w = shape
        widths = (widths[0],) + tuple(widths)   # stem has the first block's width
        return FastCNN(c, num_classes, min(h, w), widths)
    check_input_size(name, shape, pretrained)
    return _torchvision_model(name, shape, num_classes, pretrained)


def _torchvision_model(name: str, shape: tuple[int, ...], num_classes: int,
                       pretrained: str | None) -> nn.Module:
    import torchvision

    in_ch = shape[0]
    extra = {"image_size": shape[1]} if _family(name) == "vit" else {}
    net = torchvision.models.get_model(name, weights=None, **extra)
    if pretrained:
        _load_pretrained(net, name, pretrained)
    _adapt_input(net, in_ch)
    _replace_head(net, name, num_classes)
    wrapped = nn.Sequential()
    wrapped.add_module("norm", Normalize(in_ch, image=True))
    wrapped.add_module("net", net)
    return wrapped


def _load_pretrained(net: nn.Module, name: str, spec: str) -> None:
    """Load weights by name (torchvision's published weights, via torch's cache) or from a local
    file (see `weights`); keeps the tensors whose names and shapes match `net`."""
    from cleanlab_lite.train.pretrained import load_state_dict

    state = load_state_dict(name, spec)
    own = net.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(matched) < len(own) // 2:
        raise UserInputError(f"--pretrained {spec}: only {len(matched)} of {len(own)} tensors match "
                             f"torchvision {name}; pass weights for that architecture")
    net.load_state_dict(matched, strict=False)


def _adapt_input(net: nn.Module, in_ch: int) -> None:
    """Replace the first conv when the data has other than 3 channels (pretrained filters are
    averaged over RGB and repeated, so grayscale keeps the learned edges)."""
    if in_ch == 3:
        return
    for parent in net.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.in_channels == 3:
                new = nn.Conv2d(in_ch, child.out_channels, child.kernel_size, child.stride,
                                child.padding, child.dilation, child.groups, child.bias is not None)
                with torch.no_grad():
                    new.weight.copy_(child.weight.mean(1, keepdim=True).repeat(1, in_ch, 1, 1)
                                     * (3 / in_ch))
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, child_name, new)
                return


def _replace_head(net: nn.Module, name: str, num_classes: int) -> None:
    """Swap the architecture's classifier (see HEADS) for a fresh nn.Linear with `num_classes`
    outputs."""
    _set_head(net, name, lambda head: nn.Linear(head.in_features, num_classes))


def strip_head(model: nn.Module, name: str) -> None:
    """Replace the classifier (see HEADS) of `model`, as built by `build_model` for torchvision
    model `name`, by the identity: the model then returns its features."""
    _set_head(model.get_submodule("net"), name, lambda head: nn.Identity())


def _set_head(net: nn.Module, name: str, make) -> None:
    path = HEADS[_family(name)]
    parent_path, _, attr = path.rpartition(".")
    head = net.get_submodule(path)
    if not isinstance(head, nn.Linear):
        raise ConfigError(f"--model {name}: expected a linear classifier at {path}, found "
                          f"{type(head).__name__}; pick another --model")
    setattr(net.get_submodule(parent_path), attr, make(head))


def set_input_stats(model: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
    """Write training-fold statistics into the model's Normalize buffers (in place)."""
    norm = next(m for m in model.modules() if isinstance(m, Normalize))
    with torch.no_grad():
        norm.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        norm.std.copy_(torch.as_tensor(std, dtype=torch.float32))

