"""`clean-labels train`: k-fold training into a run folder."""
from __future__ import annotations

import click

from cleanlab_lite.commands.common import (apply, config_option, echo, explicit_params,
                                           field_option, handle_errors)
from cleanlab_lite.config import (BACKENDS, BALANCE, DEVICES, LOSSES, PRECISIONS, DataConfig,
                                  TrainConfig)

DATA_OPTIONS = ("label_col", "path_col", "id_col", "feature_cols", "embeddings", "data_root",
                "group_col", "weight_col", "image_size", "skip_bad", "allow_outside_root")
TRAIN_OPTIONS = ("folds", "repeats", "fold", "seed", "device", "model", "pretrained", "backbone",
                 "head", "epochs", "batch_size", "lr", "weight_decay", "loss", "class_weight",
                 "label_smoothing", "gce_q", "focal_gamma", "bootstrap", "bootstrap_beta", "balance",
                 "tta", "snapshots", "knn", "compile", "quiet", "hidden", "precision", "threads",
                 "parallel_folds", "backend",
                 "ray_address", "gpus_per_fold", "cpus_per_fold", "max_retries")


def data_options(fn):
    d = DataConfig
    return apply(fn, [
        field_option(d, "label_col", help="Label column."),
        field_option(d, "path_col", help="Image path column (relative to --data-root)."),
        field_option(d, "id_col", help="Stable row id column, carried into outputs."),
        click.option("--feature-cols", default=None,
                     help="Comma-separated table feature columns (default: every column but the "
                          "label and id; text and categorical columns included)."),
        field_option(d, "embeddings", type=click.Path(dir_okay=False),
                     help="Precomputed embeddings .npy (N, D), one row per manifest row."),
        field_option(d, "data_root", type=click.Path(file_okay=False),
                     help="Folder image paths are relative to (default: the manifest's folder)."),
        field_option(d, "group_col", help="Rows sharing a group stay in one fold."),
        field_option(d, "weight_col", help="Per-sample loss weight column (suspect rows pull less)."),
        field_option(d, "image_size", type=int,
                     help="Resize images to SxS pixels (default: their own size if all equal)."),
        field_option(d, "skip_bad", is_flag=True,
                     help="Leave out missing/corrupt images and rows with unparsable numbers "
                          "(listed in RUN/skipped.csv) instead of stopping."),
        field_option(d, "allow_outside_root", is_flag=True,
                     help="Accept image paths that resolve outside --data-root (absolute, ../, "
                          "symlinks)."),
    ])


def train_options(fn):
    t = TrainConfig
    return apply(fn, [
        field_option(t, "folds", type=int, help="k in k-fold."),
        field_option(t, "repeats", type=int,
                     help="Average out-of-fold probabilities over R differently seeded splits."),
        field_option(t, "fold", type=int,
                     help="Train only fold i (job arrays); a later run without --fold merges."),
        field_option(t, "seed", type=int),
        field_option(t, "device", type=click.Choice(DEVICES)),
        field_option(t, "model",
                     help="auto | cnn | resnet18 | resnet50 | efficientnet_b0 | convnext_tiny | "
                          "hgb | logreg | knn | hgb+logreg | hgb+logreg+knn | mlp | linear (auto: "
                          "hgb+logreg+knn for tables under 10,000 rows, else hgb; logreg for "
                          "embeddings; cnn/resnet18 for images)"),
        field_option(t, "pretrained", metavar="NAME|FILE",
                     help="Weights for a torchvision model: imagenet (or DEFAULT, or an enum "
                          "name such as IMAGENET1K_V2) from torch's cache ($TORCH_HOME), or a "
                          "local state_dict file."),
        field_option(t, "backbone", metavar="NAME",
                     help="Embed the images once with this torchvision model (e.g. resnet18 "
                          "--pretrained imagenet), then train --head on the embeddings per fold."),
        field_option(t, "head", help="With --backbone: auto (logreg) | logreg | hgb | knn | "
                                     "hgb+logreg+knn | linear | mlp."),
        field_option(t, "epochs", type=int, help="Epochs per fold (default per model)."),
        field_option(t, "batch_size", type=int, help="Batch size (default per model)."),
        field_option(t, "lr", type=float, help="Learning rate (default per model)."),
        field_option(t, "weight_decay", type=float, help="Weight decay (default per model)."),
    ])


def loss_options(fn):
    """Losses for noisy and unbalanced labels, and where and how the folds run."""
    t = TrainConfig
    return apply(fn, [
        field_option(t, "loss", type=click.Choice(LOSSES), help="Training loss."),
        field_option(t, "class_weight",
                     help="none | inverse | sqrt_inverse | effective_number | w1,w2,..."),
        field_option(t, "label_smoothing", help="One epsilon, or one per class: e1,e2,..."),
        field_option(t, "gce_q", type=float, help="Generalized cross entropy exponent."),
        field_option(t, "focal_gamma", type=float, help="Focal loss exponent."),
        field_option(t, "bootstrap", type=click.Choice(["soft", "hard"]),
                     help="Bootstrapping loss target."),
        field_option(t, "bootstrap_beta", type=float,
                     help="Weight of the given label in bootstrapping."),
        field_option(t, "balance", type=click.Choice(BALANCE),
                     help="Re-draw the classes balanced each epoch."),
        field_option(t, "tta", "--tta/--no-tta",
                     help="Average predictions with the flipped image."),
        field_option(t, "snapshots", type=int,
                     help="Average the held-out predictions of this many epochs over the second "
                          "half of training (torch models)."),
        field_option(t, "knn", type=int,
                     help="Average the held-out probabilities with the votes of this many nearest "
                          "training rows in the model's feature space; 0: off (torch models)."),
        field_option(t, "compile", is_flag=True, help="torch.compile once for all folds."),
        field_option(t, "precision", type=click.Choice(PRECISIONS),
                     help="auto: bf16 autocast on CUDA, fp32 on CPU."),
        field_option(t, "hidden", type=int, help="MLP hidden width (tabular data, embeddings)."),
        field_option(t, "threads", type=int,
                     help="CPU threads per fold; 0: one for small inputs, else the fold's share "
                          "of the cores."),
        field_option(t, "parallel_folds", type=int,
                     help="Folds trained at once, each in its own process; 0: auto (on the CPU, "
                          "image data: one per core, memory permitting), 1: one after another."),
        field_option(t, "backend", type=click.Choice(BACKENDS),
                     help="local: folds here; ray: one Ray task per fold (docs/scale.md; needs "
                          "clean-labels[ray])."),
        field_option(t, "ray_address", metavar="ADDRESS",
                     help="Ray cluster: auto or ray://host:port (default: start a local Ray)."),
        field_option(t, "gpus_per_fold", type=float,
                     help="GPUs per Ray task [default: 1 when the cluster has GPUs, else 0]."),
        field_option(t, "cpus_per_fold", type=float, help="CPUs per Ray task."),
        field_option(t, "max_retries", type=int,
                     help="Ray retries of a fold whose worker died or that raised."),
        field_option(t, "quiet", "--quiet", "-q", is_flag=True, help="No progress bars."),
    ])


def _split_cols(value):
    if value is None or isinstance(value, (list, tuple)):
        return value
    return tuple(c.strip() for c in str(value).split(",") if c.strip())


def build_configs(ctx: click.Context, config_path):
    """DataConfig and TrainConfig from the defaults, then --config, then the typed flags."""
    from cleanlab_lite.config import build, load_yaml

    y = load_yaml(config_path)
    flags = explicit_params(ctx, DATA_OPTIONS + TRAIN_OPTIONS)
    if "feature_cols" in flags:
        flags["feature_cols"] = _split_cols(flags["feature_cols"])
    data_layer = {k: v for k, v in flags.items() if k in DATA_OPTIONS}
    train_layer = {k: v for k, v in flags.items() if k in TRAIN_OPTIONS}
    ydata = dict(y.get("data", {}))
    if "feature_cols" in ydata:
        ydata["feature_cols"] = _split_cols(ydata["feature_cols"])
    sources = (str(config_path), "flags")
    data_cfg = build(DataConfig, ydata, data_layer, source=sources)
    train_cfg = build(TrainConfig, y.get("train", {}), train_layer, source=sources)
    return data_cfg, train_cfg


def _print_metrics(summary: dict) -> None:
    m = summary.get("metrics", {})
    oof = m.get("oof", m)
    parts = [f"{summary['n']} rows, {summary['k']} classes ({summary['kind']})"]
    for key, name in (("accuracy", "out-of-fold accuracy"), ("balanced_accuracy", "balanced"),
                      ("macro_f1", "macro-F1")):
        if oof.get(key) is not None:
            parts.append(f"{name} {oof[key]:.4f}")
    echo("Trained: " + ", ".join(parts))
    feats = summary.get("features")
    if feats:
        cats = set(summary.get("categorical") or ())
        named = [f"{f} (categorical)" if f in cats else f for f in feats]
        shown = ", ".join(named[:12]) + (f", ... ({len(feats)} in all)" if len(feats) > 12 else "")
        echo(f"Features: {shown} (choose with --feature-cols)")
    for col, why in (summary.get("left_out") or {}).items():
        echo(f"Left out column {col!r} ({why}); name it in --feature-cols to use its most "
             "frequent values")
    if summary.get("unlabeled"):
        echo(f"Unlabeled: {summary['unlabeled']} row(s) without a label, not trained on or ranked")
    wall = m.get("timings", {}).get("total_s") or m.get("timings", {}).get("train_s")
    if wall is not None:
        echo(f"Training time {wall:.1f} s on {m.get('device', '?')}")


@click.command("train")
@click.argument("manifest", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Run folder to write (a rerun resumes from finished folds).")
@config_option
@data_options
@train_options
@loss_options
@click.pass_context
@handle_errors
def command(ctx, manifest, out, config_path, **_):
    """Train k models with stratified k-fold; every row gets out-of-fold probabilities.

    MANIFEST is a CSV, Parquet or JSONL file, or a folder with one subfolder of images per
    class (the class is the subfolder's name; the manifest built from it is RUN/dataset.csv).

    \b
    Examples:
      clean-labels train photos/ --out run1                # photos/cat/1.jpg, photos/dog/2.jpg
      clean-labels train data/manifest.csv --out run1
      clean-labels train rows.parquet --out run1 --feature-cols age,income --folds 10
      clean-labels train rows.jsonl --embeddings emb.npy --out run1 --model linear
      clean-labels train table.csv --out run1 --model hgb       # missing values allowed
      clean-labels train photos.csv --out run1 --backbone resnet18 --pretrained imagenet
      clean-labels train manifest.csv --out run1 --fold 3      # one fold of a job array
      clean-labels train manifest.csv --out run1 --backend ray # folds as Ray tasks (docs/scale.md)
    """
    from cleanlab_lite.pipeline import run_train
    from cleanlab_lite.run import Run

    data_cfg, train_cfg = build_configs(ctx, config_path)
    summary = run_train(manifest, data_cfg, train_cfg, out, log=echo, config_path=config_path)
    if not summary["complete"]:
        echo(f"Fold {train_cfg.fold} done in {out}. Run the same command without --fold "
             "to train any missing folds and merge.")
        return
    _print_metrics(summary)
    echo(f"Wrote {Run(out).pred_probs_path} and metrics.json. Next: clean-labels rank {out}")
