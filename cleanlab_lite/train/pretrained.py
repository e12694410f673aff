"""`--pretrained`: a torchvision model's published weights by name, or a local weights file.

    --pretrained imagenet | DEFAULT     the model's default weights enum member (e.g.
                                        ResNet18_Weights.IMAGENET1K_V1)
    --pretrained IMAGENET1K_V2          any member of that model's weights enum, by name
    --pretrained path/to/weights.pth    a local state_dict (or a checkpoint holding one)

Named weights go through torchvision's own API (`get_model_weights(name)[member]
.get_state_dict()`), so they live in torch's cache, `$TORCH_HOME/hub/checkpoints/` (default
~/.cache/torch), where any other torchvision program finds them too. With no cached file they
are downloaded once, unless CLEAN_LABELS_OFFLINE=1 is set or there is no network: then a
one-line error says which file to put where.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from cleanlab_lite.errors import ConfigError, UserInputError

NAMED_DEFAULT = ("imagenet", "default")
OFFLINE_ENV = "CLEAN_LABELS_OFFLINE"


def is_name(spec: str) -> bool:
    """True for a weights name (imagenet, DEFAULT, IMAGENET1K_V2), False for a file path."""
    s = str(spec)
    if Path(s).exists() or any(c in s for c in "/\\."):
        return False
    return s.lower() in NAMED_DEFAULT or (s.upper() == s and s.replace("_", "").isalnum())


def weights_enum_member(model: str, spec: str):
    """The torchvision weights enum member `spec` names for `model`."""
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(model)
    except (ValueError, KeyError):
        raise ConfigError(f"--pretrained {spec}: torchvision publishes no weights for {model!r}; "
                          f"pass a local weights file instead") from None
    key = "DEFAULT" if spec.lower() in NAMED_DEFAULT else spec.upper()
    try:
        return enum[key]
    except KeyError:
        names = ", ".join(["imagenet", "DEFAULT"] + list(enum.__members__))
        raise ConfigError(f"--pretrained {spec}: {enum.__name__} has no member {key}; use one of "
                          f"{names}, or a local weights file") from None


def cache_file(member) -> Path:
    """Where torch's cache keeps `member`'s file: $TORCH_HOME/hub/checkpoints/<file in its URL>."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(member.url).path)


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def named_state_dict(model: str, spec: str) -> dict:
    """The state_dict of torchvision's published weights `spec` for `model`, from torch's cache
    (downloaded into it once when missing and the network allows)."""
    member = weights_enum_member(model, spec)
    path = cache_file(member)
    where = (f"download {member.url} and put it at {path} (torch's cache: $TORCH_HOME/hub/"
             f"checkpoints), or pass --pretrained FILE")
    if not path.is_file() and _offline():
        raise UserInputError(f"--pretrained {spec}: {model} weights {member} are not in torch's "
                             f"cache and {OFFLINE_ENV} is set; {where}")
    try:
        return member.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    except OSError as e:     # URLError, HTTPError, timeouts, a read-only cache folder
        raise UserInputError(f"--pretrained {spec}: {model} weights {member} could not be "
                             f"downloaded ({type(e).__name__}); {where}") from None
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file in the cache
        raise UserInputError(f"--pretrained {spec}: the cached file {path} cannot be read as "
                             f"weights ({type(e).__name__}); delete it, or {where}") from None


def load_state_dict(model: str, spec: str) -> dict:
    """`spec` as a state_dict for torchvision `model`: weights by name, or a local file."""
    if is_name(spec):
        return named_state_dict(model, spec)
    import torch

    p = Path(spec)
    if not p.is_file():
        raise UserInputError(
            f"--pretrained {spec}: file not found; pass a local {model} state_dict (.pth), a "
            f"weights name such as imagenet, or drop --pretrained to train from scratch")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input
        raise UserInputError(f"--pretrained {spec}: cannot be read as PyTorch weights "
                             f"({type(e).__name__}); pass a state_dict saved with torch.save") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        raise UserInputError(f"--pretrained {spec}: holds no state_dict; pass weights saved with "
                             f"torch.save(model.state_dict(), path)")
    return {k.removeprefix("module."): v for k, v in state.items()}
