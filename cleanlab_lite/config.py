"""Typed, frozen configuration. Values come from defaults, then `--config FILE.yaml`, then flags
(flags win). The resolved config is written into the run folder as config.yaml.

A YAML file has one mapping per section: `data:`, `train:`, `rank:`, `check:`.

Every value is coerced to its field's type and checked against `RULES` (ranges and choices)
when a config object is made, so a bad value stops a command before it writes anything, with
one line naming the option, the value and a valid example. A new field needs one line in RULES.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from cleanlab_lite.errors import ConfigError

# Choices shared with the modules that act on them.
DEVICES = ("auto", "cpu", "cuda")
LOSSES = ("ce", "gce", "sce", "focal", "bootstrap")
CLASS_WEIGHTS = ("none", "inverse", "sqrt_inverse", "effective_number")
BALANCE = ("none", "oversample", "undersample")
PRECISIONS = ("auto", "bf16", "fp32")
BACKENDS = ("local", "ray")
# rank: label quality scores, flagging rules, noise estimates (scoring.api acts on them)
METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
FILTERS = ("adaptive", "prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given", "low_self_confidence", "low_normalized_margin")
ESTIMATION_METHODS = ("adaptive", "off_diagonal", "off_diagonal_calibrated")
CJ_ARGMAX = ("confident", "cleanlab")
# Columns that hold a label (the given one, or one our own `noise` and `export` commands write):
# never features, whatever --feature-cols says.
LABEL_COLUMNS = ("true_label", "original_label")


class _Checked:
    """Mixin for the config dataclasses: coerce and check every field on creation."""

    def __post_init__(self):
        for name, value in check_values(type(self), _values(self)).items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class DataConfig(_Checked):
    label_col: str = "label"            # column holding the given label (string or int)
    path_col: str = "path"              # image path column, relative to data_root
    id_col: str | None = None           # optional stable row id, carried into ranking.csv
    feature_cols: tuple[str, ...] | None = None  # tabular: default every numeric column but label
    embeddings: str | None = None       # .npy (N, D), one row per manifest row
    data_root: str | None = None        # folder image paths are relative to; default manifest's
    group_col: str | None = None        # rows sharing a group stay in one fold
    weight_col: str | None = None       # per-sample loss weight column (>= 0)
    image_size: int | None = None       # pixels (square); None: native size if all equal, else 32
    skip_bad: bool = False              # drop unreadable images/rows (listed in RUN/skipped.csv)
    allow_outside_root: bool = False    # accept image paths that resolve outside data_root
    decode_workers: int = 0             # image decode processes; 0 = all cores


@dataclass(frozen=True)
class TrainConfig(_Checked):
    folds: int = 5                      # k in stratified k-fold
    repeats: int = 1                    # average out-of-fold probs over R differently seeded splits
    fold: int | None = None             # train only this fold (job arrays); merge with a plain run
    seed: int = 0
    device: str = "auto"                # auto | cpu | cuda
    model: str = "auto"                 # auto | cnn | resnet18 | ... | hgb | logreg | knn | hgb+logreg[+knn] | mlp
    pretrained: str | None = None       # weights: imagenet | DEFAULT | an enum name | a local file
    backbone: str | None = None         # torchvision model: embed images once, train `head` k times
    head: str = "auto"                  # with backbone: auto (logreg) | logreg | hgb | linear | mlp
    epochs: int | None = None           # None: chosen per model (see train.defaults)
    batch_size: int | None = None       # None: chosen per model
    lr: float | None = None             # None: chosen per model and optimizer
    weight_decay: float | None = None   # None: chosen per model
    hidden: int = 128                   # MLP hidden width (as accurate as 256 in tests, 2x faster)
    loss: str = "ce"                    # ce | gce | sce | focal | bootstrap
    class_weight: str = "none"          # none | inverse | sqrt_inverse | effective_number | w1,w2,..
    label_smoothing: str = "auto"       # one epsilon, or per-class "e1,e2,.."; auto: the
                                        # error-finding recipe's 0.1 for images (loss ce), else 0
    gce_q: float = 0.7                  # generalized cross entropy exponent, 0 < q <= 1
    sce_alpha: float = 0.1              # symmetric CE: weight of CE
    sce_beta: float = 1.0               # symmetric CE: weight of reverse CE
    focal_gamma: float = 2.0
    bootstrap: str = "soft"             # soft | hard
    bootstrap_beta: float = 0.95        # weight of the given label in bootstrapping
    effective_number_beta: float = 0.999
    balance: str = "none"               # none | oversample | undersample (re-drawn each epoch)
    tta: bool = True                    # average predictions with the horizontal flip (images)
    snapshots: int | None = None        # torch models: average the held-out predictions of this
                                        # many epochs spread over the second half of training;
                                        # None: the error-finding recipe's 4 for images, else 1
    knn: int = 0                        # torch models: average the held-out probabilities with the
                                        # votes of this many nearest training rows in feature space
    compile: bool = False               # torch.compile once, re-initialise weights per fold
    channels_last: bool = True
    precision: str = "auto"             # auto (bf16 on GPUs with native bf16, else fp32) | bf16 | fp32
    # -- train helper: augmentation and CNN shape (None/auto: chosen in train.defaults) --
    flip: str = "auto"                  # auto (RGB images only) | on | off; also gates flip TTA
    translate: int | None = None        # max random shift in pixels; None: side/16, at least 1
    widths: str | None = None           # cnn block widths "64,256,256"; None: per device
    threads: int = 0                    # CPU threads per fold; 0: 1 for small inputs, else the fold's cores
    parallel_folds: int = 0             # folds trained at once (local backend); 0: auto (CPU images:
                                        # one per core), 1: one after another
    # -- where the folds run (docs/scale.md); none of these changes what a fold learns --
    backend: str = "local"              # local (one after another here) | ray (one Ray task per fold)
    ray_address: str | None = None      # None: start a local Ray; "auto" | "ray://host:port": a cluster
    gpus_per_fold: float | None = None  # GPUs per Ray task; None: 1 when the cluster has GPUs, else 0
    cpus_per_fold: float = 1            # CPUs per Ray task (also its torch threads for large inputs)
    max_retries: int = 2                # Ray retries of a fold whose worker died or that raised
    quiet: bool = False


@dataclass(frozen=True)
class RankConfig(_Checked):
    method: str = "self_confidence"     # label quality score (see scoring.METHODS)
    adjust_pred_probs: bool = False     # subtract per-class confident thresholds first
    filter_by: str = "adaptive"         # see scoring.FILTERS; chosen by F1 (docs/scoring.md)
    frac_noise: float = 1.0
    num_to_remove_per_class: tuple[int, ...] | None = None
    min_examples_per_class: int = 1
    device: str = "cpu"                 # cpu | cuda
    renormalize: bool = False           # renormalize rows that do not sum to 1 instead of erroring
    chunk_rows: int | None = None       # rows per chunk for out-of-core; None: automatic
    # scoring helper's fields (see docs/scoring.md)
    cj_argmax: str = "confident"        # confident (argmax over classes above threshold) | cleanlab
    estimation_method: str = "adaptive"  # adaptive | off_diagonal | off_diagonal_calibrated


SECTIONS: dict[str, type] = {"data": DataConfig, "train": TrainConfig, "rank": RankConfig}
SECTION_OF = {cls: name for name, cls in SECTIONS.items()}


# ---- value checks -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """A check on one (already type-coerced, not None) value."""
    ok: Callable[[Any], bool]
    want: str                 # what a valid value is, e.g. "greater than 0"
    example: str              # a valid value to suggest
    choices: tuple = ()       # the valid values, when there is a fixed list

    def problem(self) -> tuple[str, str]:
        """(what is wrong, the way out) for a value that fails this rule."""
        if self.choices:
            return "is not valid", f"use one of {', '.join(self.choices)}"
        return f"must be {self.want}", f"use e.g. {self.example}"


def above(lo, example) -> Rule:
    return Rule(lambda v: v > lo, f"greater than {lo}", example)


def at_least(lo, example) -> Rule:
    return Rule(lambda v: v >= lo, f"at least {lo}", example)


def within(lo, hi, example, *, open_lo=False, open_hi=False) -> Rule:
    def ok(v):
        return (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)
    return Rule(ok, f"in {'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}", example)


def one_of(*choices, extra: Callable[[Any], bool] = lambda v: False) -> Rule:
    return Rule(lambda v: v in choices or extra(v), f"one of {', '.join(choices)}", choices[0],
                choices)


def _numbers(spec: str) -> list[float] | None:
    try:
        vals = [float(p) for p in str(spec).split(",")]
    except ValueError:
        return None
    return vals if all(math.isfinite(v) for v in vals) else None


def number_list(want: str, example: str, each: Callable[[float], bool], *,
                names: tuple[str, ...] = (), whole: bool = False) -> Rule:
    """A comma list of numbers (each passing `each`), or one of `names`."""
    def ok(v):
        if v in names:
            return True
        vals = _numbers(v)
        return bool(vals) and all(each(x) and (not whole or x.is_integer()) for x in vals)
    return Rule(ok, want, example)


RULES: dict[type, dict[str, Rule]] = {
    DataConfig: {
        "label_col": Rule(bool, "a column name", "label"),
        "path_col": Rule(bool, "a column name", "path"),
        "image_size": at_least(4, "32"),
        "decode_workers": at_least(0, "0"),
    },
    TrainConfig: {
        "folds": at_least(2, "5"),
        "repeats": at_least(1, "1"),
        "fold": at_least(0, "0"),
        "seed": within(0, 2**31 - 1, "0"),      # numpy and scikit-learn take 32-bit seeds
        "device": one_of(*DEVICES, extra=lambda v: v.startswith("cuda:") and v[5:].isdigit()),
        "model": Rule(bool, "a model name", "auto"),
        "epochs": at_least(1, "10"),
        "batch_size": at_least(1, "256"),
        "lr": above(0, "0.01"),
        "weight_decay": at_least(0, "0.0005"),
        "hidden": at_least(1, "128"),
        "loss": one_of(*LOSSES),
        "class_weight": number_list(f"one of {', '.join(CLASS_WEIGHTS)} or comma-separated "
                                    "weights >= 0, one per class", "inverse",
                                    lambda x: x >= 0, names=CLASS_WEIGHTS),
        "label_smoothing": number_list("auto, one epsilon in [0, 1) or one per class (e1,e2,...)",
                                       "0.1", lambda x: 0 <= x < 1, names=("auto",)),
        "gce_q": within(0, 1, "0.7", open_lo=True),
        "sce_alpha": at_least(0, "0.1"),
        "sce_beta": at_least(0, "1.0"),
        "focal_gamma": at_least(0, "2"),
        "bootstrap": one_of("soft", "hard"),
        "bootstrap_beta": within(0, 1, "0.95"),
        "effective_number_beta": within(0, 1, "0.999", open_lo=True, open_hi=True),
        "balance": one_of(*BALANCE),
        "precision": one_of(*PRECISIONS),
        "flip": one_of("auto", "on", "off"),
        "translate": at_least(0, "2"),
        "widths": number_list("comma-separated block widths >= 1", "64,256,256",
                              lambda x: x >= 1, whole=True),
        "threads": at_least(0, "0"),
        "parallel_folds": at_least(0, "2"),
        "snapshots": at_least(1, "4"),
        "knn": at_least(0, "10"),
        "backend": one_of(*BACKENDS),
        "gpus_per_fold": at_least(0, "1"),
        "cpus_per_fold": above(0, "1"),
        "max_retries": at_least(0, "2"),
    },
    RankConfig: {
        "frac_noise": within(0, 1, "1.0"),
        "min_examples_per_class": at_least(0, "1"),
        "device": one_of("cpu", "cuda", "auto"),
        "chunk_rows": at_least(1, "100000"),
        "method": one_of(*METHODS),
        "filter_by": one_of(*FILTERS),
        "cj_argmax": one_of(*CJ_ARGMAX),
        "estimation_method": one_of(*ESTIMATION_METHODS),
    },
}


class _Bad(Exception):
    """A value that does not fit: args = (what is wrong, the way out)."""


def _coerce(tp, value, fix: str):
    """`value` converted to type `tp` (from the field's annotation), or _Bad."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
    if value is None:
        raise _Bad("must be given", fix)
    if tp is bool:
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("true", "yes", "on", "1"):
            return True
        if s in ("false", "no", "off", "0"):
            return False
        raise _Bad("is not true or false", "use true or false")
    if tp in (int, float):
        what = "a whole number" if tp is int else "a number"
        try:
            f = float("x" if isinstance(value, bool) else value)
        except (TypeError, ValueError):
            raise _Bad(f"is not {what}", fix) from None
        if not math.isfinite(f) or (tp is int and not f.is_integer()):
            raise _Bad(f"is not {'a finite number' if tp is float else what}", fix)
        return int(f) if tp is int else f
    if tp is str:
        if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
            return ",".join(str(v) for v in value)      # YAML list of numbers -> "a,b,c"
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _Bad("is not a string", fix)
        return str(value).strip()
    if typing.get_origin(tp) is tuple:
        elem = typing.get_args(tp)[0]
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise _Bad("is not a list", fix)
        return tuple(_coerce(elem, v.strip() if isinstance(v, str) else v, fix) for v in items)
    return value


def _values(cfg) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


def check_values(cls, values: Mapping[str, Any], where: Mapping[str, str] | None = None) -> dict:
    """`values` coerced to `cls`'s field types and checked against RULES; raises ConfigError.

    where: for each key, how the user gave it ('--lr', or 'c.yaml: train.lr' for a config
    file), used in the message; default the flag, '--<key>'.
    """
    hints = typing.get_type_hints(cls)
    rules = RULES.get(cls, {})
    out = {}
    for key, value in values.items():
        rule = rules.get(key)
        try:
            v = _coerce(hints[key], value, f"use e.g. {rule.example}" if rule else "")
            if rule is not None and v is not None:
                items = v if isinstance(v, tuple) else (v,)
                if not all(rule.ok(x) for x in items):
                    raise _Bad(*rule.problem())
        except _Bad as bad:
            problem, fix = bad.args
            label = (where or {}).get(key) or f"--{key.replace('_', '-')}"
            raise ConfigError(f"{label} {value!r} {problem}{'; ' + fix if fix else ''}") from None
        out[key] = v
    _check_together(cls, {**out})
    return out


PRUNE_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")   # rules that count per class


def _check_together(cls, v: dict) -> None:
    """Rules that involve two fields."""
    if cls is TrainConfig:
        if v["fold"] is not None and v["fold"] >= v["folds"]:
            raise ConfigError(f"--fold {v['fold']} is out of range; use 0..{v['folds'] - 1} "
                              f"with --folds {v['folds']}")
        if (v["loss"] != "ce" and v["label_smoothing"] != "auto"
                and any(x > 0 for x in _numbers(v["label_smoothing"]))):
            raise ConfigError(f"--label-smoothing applies to --loss ce only (got --loss "
                              f"{v['loss']}); drop --label-smoothing or use --loss ce")
    elif cls is DataConfig:
        taken = {v["label_col"], *LABEL_COLUMNS}
        for col in v["feature_cols"] or ():
            if col in taken:
                raise ConfigError(f"--feature-cols names {col!r}, which holds a label, not a "
                                  "feature; leave it out of --feature-cols")
    elif cls is RankConfig:
        if v["adjust_pred_probs"] and v["method"] == "confidence_weighted_entropy":
            raise ConfigError("--adjust-pred-probs does not apply to --method "
                              "confidence_weighted_entropy; use self_confidence or "
                              "normalized_margin, or drop --adjust-pred-probs")
        if v["min_examples_per_class"] != 1 and v["filter_by"] not in PRUNE_FILTERS:
            raise ConfigError(f"--min-examples-per-class applies to --filter-by prune_by_class, "
                              f"prune_by_noise_rate or both only, not {v['filter_by']}; pick one "
                              "of those rules or drop --min-examples-per-class")
        if v["num_to_remove_per_class"] is not None:
            if v["filter_by"] not in PRUNE_FILTERS:
                raise ConfigError("--num-to-remove-per-class works only with --filter-by "
                                  f"prune_by_class, prune_by_noise_rate or both, not {v['filter_by']}")
            if any(n < 0 for n in v["num_to_remove_per_class"]):
                raise ConfigError(f"--num-to-remove-per-class {list(v['num_to_remove_per_class'])} "
                                  "has a negative count; use counts >= 0")


def load_yaml(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Read a config file into {section: {key: value}}; unknown sections or keys are errors."""
    if path is None:
        return {}
    import yaml

    from cleanlab_lite.io import check_input_file

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {p} not found; pass an existing YAML file to --config")
    check_input_file(p, "config file", ConfigError)      # a folder or a FIFO: refused
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"config file {p} is not valid YAML{where}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {p} must be a mapping of sections (data:, train:, rank:)")
    out: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in SECTIONS and section != "check":
            hint = (" (export takes its options as flags only)" if section == "export" else "")
            raise ConfigError(f"config file {p}: unknown section {section!r}{hint}; "
                              f"use one of {', '.join(list(SECTIONS) + ['check'])}")
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"config file {p}: section {section!r} must be a mapping")
        out[section] = dict(values)
    return out


def build(cls, *layers: Mapping[str, Any] | None, source: str | typing.Sequence[str] = "config"):
    """Build dataclass `cls` from layers of overrides (later layers win), validating keys and
    values. `source` names where the layers came from (one name, or one per layer); a layer
    named "flags" is reported as `--option`, any other as `<source>: <section>.<key>`."""
    names = {f.name: f for f in fields(cls)}
    sources = [source] * len(layers) if isinstance(source, str) else list(source)
    section = SECTION_OF.get(cls, cls.__name__)
    merged: dict[str, Any] = {}
    where: dict[str, str] = {}
    for layer, src in zip(layers, sources):
        for key, value in (layer or {}).items():
            key = key.replace("-", "_")
            if key not in names:
                raise ConfigError(f"{src}: unknown option {key!r} for {cls.__name__}; "
                                  f"valid: {', '.join(sorted(names))}")
            merged[key] = value
            where[key] = (f"--{key.replace('_', '-')}" if src == "flags"
                          else f"{src}: {section}.{key}")
    defaults = _values(cls())
    return cls(**check_values(cls, {**defaults, **merged}, where))


def to_dict(cfg) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
