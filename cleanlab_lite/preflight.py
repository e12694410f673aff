"""The checks `train` runs before it writes any run file, in the order it runs them: the options
alone (`check_options`: device, backbone), then with the labels read but nothing decoded
(`check_labels`: classes, folds, model name, weights), then with the data loaded and the folds
assigned (`check_plan`: model, loss, class weights and memory against the data). Each raises
a UserInputError (exit 2) naming the option and the fix; none writes anything.
"""
from __future__ import annotations

import dataclasses

from cleanlab_lite.config import DataConfig, TrainConfig
from cleanlab_lite.data.load import Table
from cleanlab_lite.errors import ConfigError, DataError
from cleanlab_lite.folds import assign_repeats


def check_options(train_cfg: TrainConfig, data_cfg: DataConfig) -> None:
    """The option checks that need neither the data nor torch's training code, run before the
    manifest is read (so before the decode cache or any run file is written): --device (a GPU is
    there, cuda:N exists) unless the model is a scikit-learn one, and --backbone (a torchvision
    model with a known classifier head; its image-size rule when --image-size is given)."""
    from cleanlab_lite.device import check_device
    from cleanlab_lite.train.sklearn_models import SKLEARN_MODELS

    if train_cfg.backbone:
        from cleanlab_lite.train import models

        side = data_cfg.image_size
        models.check_backbone(train_cfg.backbone, None if side is None else (3, side, side),
                              train_cfg.pretrained)
    if train_cfg.backbone or str(train_cfg.model).lower() not in SKLEARN_MODELS:
        check_device(train_cfg.device)


def _against_data(ds, cfg: TrainConfig) -> None:
    """The option checks that need the data (class count, kind, shape) or the machine (a GPU),
    run before any run file is written; the values alone were checked by config.RULES.
    cfg: the folds' config (`choose.fold_config`); a scikit-learn model never imports torch."""
    from cleanlab_lite.train import weighting
    from cleanlab_lite.train.choose import choose_model
    from cleanlab_lite.train.sklearn_models import SKLEARN_MODELS

    weighting.class_weights(ds.labels, ds.num_classes, cfg.class_weight, cfg.effective_number_beta)
    if choose_model(cfg.model, ds, cfg) in SKLEARN_MODELS:
        return
    import torch

    from cleanlab_lite.train import losses, models
    models.resolve_model_name(cfg.model, ds.kind, tuple(ds.X.shape[1:]), pretrained=cfg.pretrained)
    losses.per_sample_loss(cfg, ds.num_classes, torch.device("cpu"))


NOMINAL_IMAGE = (3, 224, 224)       # a size every image model takes, for checking a name alone


def check_labels(table: Table, manifest, label_col: str, cfg: TrainConfig) -> None:
    """The checks that need the labels but not the decoded images or parsed features, run before
    anything is written or decoded: at least two classes, classes and groups that fit --folds,
    and for image runs the model name and the weights (the backbone and the device were checked
    by check_options)."""
    if len(table.class_values) < 2:
        shown = ", ".join(repr(str(c)) for c in table.class_values) or "none"
        raise DataError(f"manifest {manifest}: column {label_col!r} (--label-col) holds one "
                        f"class ({shown}); finding wrong labels needs at least 2 classes, so "
                        "add the other classes' rows or check --label-col")
    assign_repeats(table.labels, cfg.folds, cfg.repeats, seed=cfg.seed, groups=table.groups,
                   classes=[str(c) for c in table.class_values])
    if table.kind != "image":
        if cfg.pretrained:
            raise ConfigError(f"--pretrained {cfg.pretrained} loads weights into an image model, "
                              f"and {manifest} holds {table.kind} data; drop --pretrained")
        return
    from cleanlab_lite.train import models, pretrained

    model = cfg.backbone or str(cfg.model).lower()
    if not cfg.backbone and model != "auto":    # the name and kind only: the size comes later
        models.resolve_model_name(model, "image", NOMINAL_IMAGE)
    if cfg.pretrained and not pretrained.is_name(cfg.pretrained):
        pretrained.load_state_dict(model, cfg.pretrained)     # a missing or unreadable file
    elif cfg.pretrained and model != "auto":
        pretrained.weights_enum_member(model, cfg.pretrained)


def check_plan(ds, folds, fold_cfg, train_cfg) -> None:
    """The checks that need the loaded data, before any run file is written. With --backbone
    the folds train on embeddings (computed after the run files are written)."""
    from cleanlab_lite.train.choose import check_concurrency

    if train_cfg.backbone:
        from cleanlab_lite.train import models

        models.check_backbone(train_cfg.backbone, tuple(ds.X.shape[1:]), train_cfg.pretrained)
    _against_data(dataclasses.replace(ds, kind="embedding") if train_cfg.backbone else ds, fold_cfg)
    if not train_cfg.backbone:      # embeddings do not exist yet: checked when their folds start
        check_concurrency(ds, folds, fold_cfg)
