"""Per-model hyperparameters used when the config leaves them as None (`auto`).

Values were tuned on CPU for the digits demo (1,797 8x8 images, 10% flipped labels; see
docs/training.md) and follow airbench's recipe for the CNN on GPU (wide net, large batch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Hyper:
    epochs: int
    batch_size: int
    lr: float                 # peak learning rate for `batch_size` rows (see `resolve`)
    weight_decay: float
    optimizer: str            # sgd (nesterov, momentum 0.9) | adamw
    warmup: float             # fraction of steps with a linear warm-up; then linear decay to 0
    widths: tuple[int, ...]   # cnn block widths
    flip: bool                # random horizontal flip (+ flip TTA when cfg.tta)
    translate: int            # max random shift in pixels


def _pow2(x: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, 2 ** round(math.log2(max(x, 1.0))))))


def _pick(value, default):
    return default if value is None else value


def resolve(cfg, model: str, device_type: str, shape: tuple[int, ...], n_train: int) -> Hyper:
    """Fill the config's None hyperparameters for `model` on `device_type` ('cpu' | 'cuda').

    shape: X.shape without N. n_train: rows in one training fold (caps the batch size).
    The default learning rate follows the batch actually used: a --batch-size (or the cap by
    n_train) other than the automatic batch scales it by sqrt(batch / automatic batch), the
    rule the cnn's own default follows; a --lr is used as given.
    """
    gpu = device_type == "cuda"
    image = model not in ("mlp", "linear")
    if model == "cnn":
        # Batch ~ n_train / 24 rounded to a power of two (64 for the digits demo, 256 for
        # 8,000 MNIST rows, capped for large sets): small sets still get enough steps.
        # SGD learning rate 0.5 at batch 64, scaled with sqrt(batch / 64).
        batch = _pow2(n_train / 24, 32, 1024 if gpu else 512)
        base = dict(epochs=12, batch_size=batch, lr=0.5 * math.sqrt(batch / 64), weight_decay=5e-4,
                    optimizer="sgd", warmup=0.15, widths=(64, 256, 256) if gpu else (24, 48, 96))
    elif image:   # torchvision architectures
        base = dict(epochs=10, batch_size=256 if gpu else 64, lr=1e-3, weight_decay=5e-2,
                    optimizer="adamw", warmup=0.1, widths=())
    else:   # mlp / linear on standardized features
        # At least 30 epochs and about 200 optimizer steps: tiny tables are cheap but need steps.
        batch = _pow2(n_train / 8, 16, 1024)
        steps = max(1, n_train // batch)
        base = dict(epochs=min(500, max(30, math.ceil(200 / steps))), batch_size=batch,
                    lr=1e-2 if model == "linear" else 3e-3, weight_decay=1e-4, optimizer="adamw",
                    warmup=0.05, widths=())
    widths = base["widths"]
    if getattr(cfg, "widths", None):
        widths = tuple(int(w) for w in str(cfg.widths).split(","))
    flip = translate = 0
    if image:
        channels, side = shape[0], min(shape[1:])
        flip_opt = str(getattr(cfg, "flip", "auto")).lower()
        # Mirroring changes the meaning of digits and text, which are mostly grayscale; natural
        # photos are mostly RGB. `auto` therefore flips RGB images only.
        flip = channels == 3 if flip_opt == "auto" else flip_opt in ("on", "true", "1", "yes")
        translate = _pick(getattr(cfg, "translate", None), max(1, round(side / 16)))
    batch = int(_pick(cfg.batch_size, base["batch_size"]))
    batch = max(2, min(batch, n_train))
    lr = base["lr"] * math.sqrt(batch / base["batch_size"])
    return Hyper(epochs=int(_pick(cfg.epochs, base["epochs"])), batch_size=batch,
                 lr=float(_pick(cfg.lr, lr)),
                 weight_decay=float(_pick(cfg.weight_decay, base["weight_decay"])),
                 optimizer=base["optimizer"], warmup=base["warmup"], widths=widths,
                 flip=bool(flip), translate=int(translate))
