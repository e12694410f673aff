"""The `clean-labels` command line: click commands only. Each command parses its options,
builds a config, calls one library function and prints a short summary.

Errors the user can fix print one `Error: ...` line and exit 2; runtime failures exit 3, and so
does any unexpected exception, as one line (`--debug` or CLEAN_LABELS_DEBUG=1 shows the
traceback); `check` exits 1 when its gate fails. Every printed line goes through `echo`, which
shows terminal control characters (from labels, ids, paths) as escapes instead of sending them.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from cleanlab_lite import __version__
from cleanlab_lite.errors import RuntimeFailure, UserInputError


class UserError(click.ClickException):
    """A one-line error for bad input; exit code 2."""
    exit_code = 2


class FailureError(click.ClickException):
    """A runtime failure that is not the user's input; exit code 3."""
    exit_code = 3


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text) -> str:
    """`text` with terminal control characters (escape sequences, carriage returns, bidi
    overrides) written as escapes like \\x1b; newlines and tabs are kept."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))


def echo(message="", err: bool = False) -> None:
    """click.echo of `message` with control characters escaped (see printable)."""
    click.echo(printable(message), err=err)


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    flag = bool(ctx and ctx.find_root().params.get("debug"))
    return flag or os.environ.get("CLEAN_LABELS_DEBUG", "") not in ("", "0")


def handle_errors(fn):
    """Turn library exceptions into one-line click errors with the contract's exit codes:
    UserInputError 2, RuntimeFailure and any unexpected exception 3 (never 1, which is the
    gate's)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserInputError as e:
            raise UserError(printable(e)) from None
        except RuntimeFailure as e:
            raise FailureError(printable(e)) from None
        except KeyboardInterrupt:
            echo("Interrupted; finished work is kept and a rerun resumes from it.", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader of the output went away (`clean-labels rank RUN | head`): stop quietly
            # with 128 + SIGPIPE, as Unix tools do; files are written atomically, none is half
            # written. Later writes (Python's flush at exit) go to /dev/null.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            if _debug():
                import traceback
                traceback.print_exc()
            first = (str(e).strip().splitlines() or [""])[0]
            raise FailureError(printable(
                f"unexpected {type(e).__name__}{': ' + first if first else ''} (not a problem with "
                f"your input that clean-labels knows of); rerun with --debug or CLEAN_LABELS_DEBUG=1 "
                f"for the traceback and report it")) from None
    return wrapper


def explicit_params(ctx: click.Context, names) -> dict:
    """The options the user actually typed (flags win over the config file)."""
    out = {}
    for name in names:
        if name in ctx.params and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            out[name] = ctx.params[name]
    return out


def config_option(fn):
    return click.option("--config", "config_path", type=click.Path(dir_okay=False),
                        help="YAML config (sections data:, train:, rank:); flags override it.")(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clean-labels")
@click.option("--debug", is_flag=True, envvar="CLEAN_LABELS_DEBUG",
              help="Show the traceback of an unexpected error (also CLEAN_LABELS_DEBUG=1).")
def main(debug):
    """Find wrong labels in a classification dataset and write a cleaned one.

    \b
    Typical use:
      clean-labels train data/manifest.csv --out run1
      clean-labels rank run1
      clean-labels export run1 --drop-top 10%
      clean-labels check run1 --max-issue-rate 2%
    """
    # Once, before torch or scikit-learn load OpenMP: its threads sleep rather than spin while they
    # wait (spinning made CPU training steps up to 100x slower on a busy 2-core machine). Only a
    # default: an OMP_WAIT_POLICY already set wins. Fold processes inherit it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# ---- check / report (owner: check-report helper) -------------------------------------------


CURRENT_DATA_OPTIONS = ("label_col", "path_col", "data_root", "embeddings", "allow_outside_root")


def current_data_options(fn):
    """How to read a manifest judged or predicted with a run's models (default: as the run did)."""
    opts = [
        click.option("--label-col", default=None, help="Label column [the run's]."),
        click.option("--path-col", default=None, help="Image path column [the run's]."),
        click.option("--data-root", type=click.Path(file_okay=False), default=None,
                     help="Folder image paths are relative to [the manifest's folder]."),
        click.option("--embeddings", type=click.Path(dir_okay=False), default=None,
                     help="Embeddings .npy (N, D) of the manifest's rows (embedding runs)."),
        click.option("--allow-outside-root", is_flag=True,
                     help="Accept image paths outside the data root [the run's setting]."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True, help="Where the fold models predict."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _overrides(ctx: click.Context) -> dict:
    return {k: v for k, v in explicit_params(ctx, CURRENT_DATA_OPTIONS).items() if v is not None}


@main.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--manifest", "manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="Judge only what changed in this manifest since RUN was trained (no "
                   "retraining); the limits apply to the changed rows.")
@click.option("--max-issue-rate", metavar="RATE",
              help="Fail when new suspect labels exceed this share of all rows: 2% or 0.02.")
@click.option("--max-issues", metavar="N", help="Fail when there are more than N new suspect labels.")
@click.option("--max-class-issue-rate", metavar="RATE",
              help="Fail when any class has more than this share of its rows flagged: 5% or 0.05.")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV of reviewed, accepted rows (column id, or row + given_label), or a "
                   "decisions.csv from `review`; they do not count.")
@click.option("--write-baseline", "write_baseline_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every flagged row to this CSV as accepted, then check against it.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML: one testcase per class plus an overall one.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="GITHUB_STEP_SUMMARY", show_envvar=True,
              help="Append a Markdown summary to this file (default: $GITHUB_STEP_SUMMARY if set).")
@current_data_options
@config_option
@click.pass_context
@handle_errors
def check(ctx, run, manifest, max_issue_rate, max_issues, max_class_issue_rate, baseline,
          write_baseline_to, json_path, junit_path, markdown_path, config_path, device, **_):
    """CI data-quality gate on a ranked run folder.

    Exit code 0 when the new suspect labels are within the limits, 1 when they are over,
    2 on bad input. Rows listed in --baseline were reviewed and accepted and do not count.
    Limits may also come from the `check:` section of --config.

    With --manifest CURRENT only the rows changed since RUN was trained are judged, in seconds:
    edited labels with the run's out-of-fold probabilities, new rows with the mean of the fold
    models. The per-row result goes to RUN/delta/ranking.csv.

    \b
    Examples:
      clean-labels check run1 --max-issue-rate 2%
      clean-labels check run1 --max-issues 50 --max-class-issue-rate 10% --junit check.xml
      clean-labels check run1 --write-baseline accepted.csv      # accept today's suspects
      clean-labels check run1 --baseline accepted.csv --max-issues 0
      clean-labels check run1 --manifest data/manifest.csv --max-issue-rate 5%
      clean-labels check run1 --baseline run1/decisions.csv --max-issues 0  # reviewed rows
    """
    from cleanlab_lite import check as gate
    from cleanlab_lite.config import load_yaml

    names = ["max_issue_rate", "max_issues", "max_class_issue_rate"]
    values = dict(load_yaml(config_path).get("check", {}))
    values.update({k: v for k, v in explicit_params(ctx, names).items() if v is not None})
    limits = gate.make_config(values, source=f"config {config_path}" if config_path else "check")
    overrides = _overrides(ctx)
    outputs = dict(baseline=baseline, write_baseline_to=write_baseline_to, json_path=json_path,
                   junit_path=junit_path, markdown_path=markdown_path)
    if manifest is not None:
        result = gate.gate_changes(run, manifest, limits, overrides=overrides, device=device,
                                   **outputs)
        for line in gate.delta_lines(result):
            echo(line)
    elif overrides:
        raise UserError(f"--{next(iter(overrides)).replace('_', '-')} applies to the rows of "
                        f"--manifest; add --manifest CURRENT or drop it")
    else:
        result = gate.gate(run, limits, **outputs)
    echo(gate.format_table(result))
    echo(gate.verdict(result))
    if limits == gate.CheckConfig():
        echo("No limits set, so the gate cannot fail; add e.g. --max-issue-rate 2%.")
    if write_baseline_to:
        echo(f"Baseline: {result.accepted} flagged rows written to {write_baseline_to}.")
    written = [str(p) for p in (json_path, junit_path, markdown_path) if p]
    if written:
        echo("Wrote " + ", ".join(written) + ".")
    if not result.passed and manifest is not None:
        echo(f"Next: fix the labels named above in {manifest} (suggestions in "
                   f"{result.delta['ranking']}) or accept reviewed rows with --write-baseline.")
        ctx.exit(1)
    if not result.passed:
        from cleanlab_lite.run import Run

        echo(f"Next: review with `clean-labels review {run}` and pass its decisions with "
             f"--baseline {Run(run).decisions_path}, accept today's suspects with "
             f"--write-baseline, or drop them with `clean-labels export {run} --drop-flagged`.")
        ctx.exit(1)


@main.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (default RUN/report.html); PNG plots go beside it.")
@click.option("--top", default=50, show_default=True, type=click.IntRange(1, 10000),
              help="How many of the most suspect rows to show.")
@click.option("--thumb-size", default=96, show_default=True, type=click.IntRange(16, 512),
              help="Thumbnail size in pixels (image runs).")
@handle_errors
def report(run, out_path, top, thumb_size):
    """Write a self-contained HTML report of a ranked run folder.

    The page shows the most suspect rows (image thumbnails embedded as base64, or the row's
    values for tabular data), per-class issue rates, the estimated noise matrix and the
    out-of-fold accuracy per class. Nothing is fetched when it is opened.

    \b
    Example:
      clean-labels report run1 && xdg-open run1/report.html
    """
    from cleanlab_lite import report as rep

    result = rep.build_report(run, out=out_path, top=top, thumb_size=thumb_size)
    echo(rep.summary_text(result))


@main.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the probabilities: a .npy, float32 (N, K).")
@current_data_options
@click.pass_context
@handle_errors
def predict(ctx, run, manifest, out, device, **_):
    """The fold ensemble's probabilities for every row of MANIFEST (labels not needed).

    Each of RUN's k fold models predicts every row with the run's preprocessing and TTA; the
    mean is written to --out in the manifest's row order, one column per class in the order of
    RUN/classes.json. No fold model has seen a new row, so this is an honest prediction.

    \b
    Example:
      clean-labels predict run1 new-batch.csv --out new-batch-probs.npy
    """
    from cleanlab_lite.predict import predict_manifest

    res = predict_manifest(run, manifest, out=out, device=device, overrides=_overrides(ctx))
    shown = ", ".join(map(str, res.classes[:10])) + (", ..." if len(res.classes) > 10 else "")
    echo(f"Wrote {res.out}: {res.n} rows x {len(res.classes)} classes, the mean of "
               f"{res.folds} fold models ({res.kind}) in {res.seconds:.1f} s.")
    echo(f"Columns are the run's classes, in order: {shown}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1; 0 picks a free one.")
@click.option("--top", default=None, type=click.IntRange(1, 1000000),
              help="Review the N most suspect rows (default: every flagged row).")
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@handle_errors
def review(run, port, top, no_browser):
    """Review the suspects in the browser; decisions are saved to RUN/decisions.csv.

    Serves a page on 127.0.0.1 (the printed URL carries a random token) showing the suspects in
    ranking order. Keys: j/k move, a accepts the suggestion, 1-9 pick a top class, / relabels to
    any class, space keeps, x drops, s skips, u undoes. Each decision is saved at once, so a
    reload or a restart resumes. Stop with Ctrl-C, then apply the decisions with export.

    \b
    Examples:
      clean-labels review run1
      clean-labels review run1 --top 300 --port 8765 --no-browser
      clean-labels export run1 --drop-flagged --decisions run1/decisions.csv
    """
    from cleanlab_lite.review import serve

    res = serve(run, port=port, top=top, open_browser=not no_browser, log=echo)
    c = res.counts
    echo(f"{res.decided} decisions in {res.path} (keep {c['keep']}, relabel {c['relabel']}, "
               f"drop {c['drop']}).")
    echo(f"Next: clean-labels export {run} --decisions {res.path}   (add --drop-flagged to "
               f"also drop the flagged rows not reviewed)")


# --- data + train (lead) -----------------------------------------------------------------------

DATA_OPTIONS = ("label_col", "path_col", "id_col", "feature_cols", "embeddings", "data_root",
                "group_col", "weight_col", "image_size", "skip_bad", "allow_outside_root")
TRAIN_OPTIONS = ("folds", "repeats", "fold", "seed", "device", "model", "pretrained", "backbone",
                 "head", "epochs", "batch_size", "lr", "weight_decay", "loss", "class_weight",
                 "label_smoothing", "gce_q", "focal_gamma", "bootstrap", "bootstrap_beta", "balance",
                 "tta", "compile", "quiet", "hidden", "precision", "threads", "parallel_folds", "backend",
                 "ray_address", "gpus_per_fold", "cpus_per_fold", "max_retries")


def data_options(fn):
    opts = [
        click.option("--label-col", default="label", show_default=True, help="Label column."),
        click.option("--path-col", default="path", show_default=True,
                     help="Image path column (relative to --data-root)."),
        click.option("--id-col", default=None, help="Stable row id column, carried into outputs."),
        click.option("--feature-cols", default=None,
                     help="Comma-separated tabular feature columns (default: every numeric "
                          "column except the label)."),
        click.option("--embeddings", type=click.Path(dir_okay=False), default=None,
                     help="Precomputed embeddings .npy (N, D), one row per manifest row."),
        click.option("--data-root", type=click.Path(file_okay=False), default=None,
                     help="Folder image paths are relative to (default: the manifest's folder)."),
        click.option("--group-col", default=None, help="Rows sharing a group stay in one fold."),
        click.option("--weight-col", default=None,
                     help="Per-sample loss weight column (suspect rows pull less)."),
        click.option("--image-size", type=int, default=None,
                     help="Resize images to SxS pixels (default: their own size if all equal)."),
        click.option("--skip-bad", is_flag=True,
                     help="Leave out missing/corrupt images and rows with unparsable numbers "
                          "(listed in RUN/skipped.csv) instead of stopping."),
        click.option("--allow-outside-root", is_flag=True,
                     help="Accept image paths that resolve outside --data-root (absolute, ../, "
                          "symlinks)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def train_options(fn):
    opts = [
        click.option("--folds", type=int, default=5, show_default=True, help="k in k-fold."),
        click.option("--repeats", type=int, default=1, show_default=True,
                     help="Average out-of-fold probabilities over R differently seeded splits."),
        click.option("--fold", type=int, default=None,
                     help="Train only fold i (job arrays); a later run without --fold merges."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True),
        click.option("--model", default="auto", show_default=True,
                     help="auto | cnn | resnet18 | resnet50 | efficientnet_b0 | convnext_tiny | "
                          "hgb | logreg | knn | hgb+logreg | hgb+logreg+knn | mlp | linear (auto: "
                          "hgb+logreg+knn for tables "
                          "under 10,000 rows, else hgb; logreg for embeddings; cnn/resnet18 "
                          "for images)"),
        click.option("--pretrained", default=None, metavar="NAME|FILE",
                     help="Weights for a torchvision model: imagenet (or DEFAULT, or an enum "
                          "name such as IMAGENET1K_V2) from torch's cache ($TORCH_HOME), or a "
                          "local state_dict file."),
        click.option("--backbone", default=None, metavar="NAME",
                     help="Embed the images once with this torchvision model (e.g. resnet18 "
                          "--pretrained imagenet), then train --head on the embeddings per fold."),
        click.option("--head", default="auto", show_default=True,
                     help="With --backbone: auto (logreg) | logreg | hgb | knn | hgb+logreg+knn | linear | mlp."),
        click.option("--epochs", type=int, default=None, help="Epochs per fold (default per model)."),
        click.option("--batch-size", type=int, default=None),
        click.option("--lr", type=float, default=None),
        click.option("--weight-decay", type=float, default=None),
        click.option("--loss", type=click.Choice(["ce", "gce", "sce", "focal", "bootstrap"]),
                     default="ce", show_default=True),
        click.option("--class-weight", default="none", show_default=True,
                     help="none | inverse | sqrt_inverse | effective_number | w1,w2,..."),
        click.option("--label-smoothing", default="0", show_default=True,
                     help="One epsilon, or one per class: e1,e2,..."),
        click.option("--gce-q", type=float, default=0.7, show_default=True),
        click.option("--focal-gamma", type=float, default=2.0, show_default=True),
        click.option("--bootstrap", type=click.Choice(["soft", "hard"]), default="soft",
                     show_default=True),
        click.option("--bootstrap-beta", type=float, default=0.95, show_default=True),
        click.option("--balance", type=click.Choice(["none", "oversample", "undersample"]),
                     default="none", show_default=True),
        click.option("--tta/--no-tta", default=True, show_default=True,
                     help="Average predictions with the flipped image."),
        click.option("--compile", is_flag=True, help="torch.compile once for all folds."),
        click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto",
                     show_default=True, help="auto: bf16 autocast on CUDA, fp32 on CPU."),
        click.option("--hidden", type=int, default=128, show_default=True,
                     help="MLP hidden width (tabular data, embeddings)."),
        click.option("--threads", type=int, default=0, show_default=True,
                     help="CPU threads per fold; 0: one for small inputs, else the fold's share "
                          "of the cores."),
        click.option("--parallel-folds", type=int, default=0, show_default=True,
                     help="Folds trained at once, each in its own process; 0: auto (on the CPU, "
                          "image data: one per core, memory permitting), 1: one after another."),
        click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
                     show_default=True,
                     help="local: folds one after another here; ray: one Ray task per fold "
                          "(docs/scale.md; needs clean-labels[ray])."),
        click.option("--ray-address", default=None, metavar="ADDRESS",
                     help="Ray cluster: auto or ray://host:port (default: start a local Ray)."),
        click.option("--gpus-per-fold", type=float, default=None,
                     help="GPUs per Ray task [default: 1 when the cluster has GPUs, else 0]."),
        click.option("--cpus-per-fold", type=float, default=1, show_default=True,
                     help="CPUs per Ray task."),
        click.option("--max-retries", type=int, default=2, show_default=True,
                     help="Ray retries of a fold whose worker died or that raised."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _split_cols(value):
    if value is None or isinstance(value, (list, tuple)):
        return value
    return tuple(c.strip() for c in str(value).split(",") if c.strip())


def build_configs(ctx: click.Context, config_path):
    from cleanlab_lite.config import DataConfig, TrainConfig, build, load_yaml

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
    acc = oof.get("accuracy")
    bal = oof.get("balanced_accuracy")
    f1 = oof.get("macro_f1")
    parts = [f"{summary['n']} rows, {summary['k']} classes ({summary['kind']})"]
    if acc is not None:
        parts.append(f"out-of-fold accuracy {acc:.4f}")
    if bal is not None:
        parts.append(f"balanced {bal:.4f}")
    if f1 is not None:
        parts.append(f"macro-F1 {f1:.4f}")
    echo("Trained: " + ", ".join(parts))
    feats = summary.get("features")
    if feats:
        shown = ", ".join(feats[:12]) + (f", ... ({len(feats)} in all)" if len(feats) > 12 else "")
        echo(f"Features: {shown} (choose with --feature-cols)")
    wall = m.get("timings", {}).get("total_s") or m.get("timings", {}).get("train_s")
    if wall is not None:
        echo(f"Training time {wall:.1f} s on {m.get('device', '?')}")


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Run folder to write (a rerun resumes from finished folds).")
@config_option
@data_options
@train_options
@click.pass_context
@handle_errors
def train(ctx, manifest, out, config_path, **_):
    """Train k models with stratified k-fold; every row gets out-of-fold probabilities.

    \b
    Examples:
      clean-labels train data/manifest.csv --out run1
      clean-labels train rows.parquet --out run1 --feature-cols age,income --folds 10
      clean-labels train rows.jsonl --embeddings emb.npy --out run1 --model linear
      clean-labels train table.csv --out run1 --model hgb       # missing values allowed
      clean-labels train photos.csv --out run1 --backbone resnet18 --pretrained imagenet
      clean-labels train manifest.csv --out run1 --fold 3      # one fold of a job array
      clean-labels train manifest.csv --out run1 --backend ray # folds as Ray tasks (docs/scale.md)
    """
    from cleanlab_lite.pipeline import run_train

    data_cfg, train_cfg = build_configs(ctx, config_path)
    summary = run_train(manifest, data_cfg, train_cfg, out, log=echo)
    if not summary["complete"]:
        echo(f"Fold {train_cfg.fold} done in {out}. Run the same command without --fold "
                   "to train any missing folds and merge.")
        return
    _print_metrics(summary)
    from cleanlab_lite.run import Run

    echo(f"Wrote {Run(out).pred_probs_path} and metrics.json. "
               f"Next: clean-labels rank {out}")


# --- export (lead) -----------------------------------------------------------------------------

def _print_top_suspects(run, n: int = 5) -> None:
    """The first rows of ranking.csv as one line each (the most suspect rows)."""
    top = run.ranking_head(n)
    top = top[top["is_label_issue"].str.lower() == "true"]
    if top.empty:
        return
    echo("Most suspect:")
    for r in top.to_dict(orient="records"):
        ident = f" (id {r['id']})" if r.get("id") else ""
        echo(f"  row {r['row']}{ident}: given {r['given_label']!r}, suggested "
                   f"{r['suggested_label']!r} (p={float(r['suggested_confidence']):.2f}), "
                   f"label quality {float(r['label_quality']):.4f}")


def _print_export(res) -> None:
    echo(f"Wrote {res.out}: {res.n_out} of {res.n_in} rows ({res.mode}).")
    cols = [c for c in res.per_class.columns if c not in ("class", "rows")]
    echo(f"  {'class':<16}{'rows':>8}" + "".join(f"{c:>16}" for c in cols))
    for d in res.per_class.to_dict(orient="records"):
        echo(f"  {str(d['class'])[:15]:<16}{d['rows']:>8}" + "".join(f"{d[c]:>16}" for c in cols))
    if res.unreadable_dropped:
        echo(f"  also left out {res.unreadable_dropped} unreadable row(s) skipped at train time")
    for note in res.notes:
        echo(f"Note: {note}")
    echo(f"Next: retrain on it, e.g. clean-labels train {res.out} --out RUN2")


@main.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--drop-top", default=None, help="Drop the most suspect rows: a count (250) or a "
              "percentage (10%).")
@click.option("--drop-flagged", is_flag=True, help="Drop every row flagged as a label issue.")
@click.option("--relabel", is_flag=True, help="Replace flagged rows' labels with the suggested "
              "label; the old one goes to column original_label.")
@click.option("--min-confidence", type=float, default=0.0, show_default=True,
              help="With --relabel: only where the model gives the suggestion at least this "
                   "probability.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Output manifest (default RUN/cleaned.<format>).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl"]), default=None,
              help="Output format (default: the input manifest's).")
@click.option("--decisions", type=click.Path(dir_okay=False), default=None,
              help="Reviewed decisions (RUN/decisions.csv from `review`, or a spreadsheet with "
                   "row, given_label, decision, label), applied before the mode.")
@handle_errors
def export(run, drop_top, drop_flagged, relabel, min_confidence, out, fmt, decisions):
    """Write a cleaned or relabeled manifest for retraining (never over the input).

    \b
    Examples:
      clean-labels export run1 --drop-top 10%
      clean-labels export run1 --drop-top 250 --out clean.csv
      clean-labels export run1 --drop-flagged --format parquet
      clean-labels export run1 --relabel --min-confidence 0.9
      clean-labels export run1 --decisions run1/decisions.csv               # reviewed rows only
      clean-labels export run1 --drop-flagged --decisions run1/decisions.csv

    With --decisions, reviewed rows follow their decision (keep stays, relabel gets the new
    label, drop goes) and the mode acts on the other rows.
    """
    from cleanlab_lite.export import export_run

    chosen = [m for m, on in (("drop_top", drop_top is not None), ("drop_flagged", drop_flagged),
                              ("relabel", relabel)) if on]
    if len(chosen) > 1 or (not chosen and decisions is None):
        raise UserError("choose exactly one of --drop-top N|P%, --drop-flagged or --relabel "
                        "(or only --decisions FILE)")
    res = export_run(run, mode=chosen[0] if chosen else None, drop_top=drop_top,
                     min_confidence=min_confidence, out=out, fmt=fmt, decisions=decisions)
    _print_export(res)


# --- demo (lead) -------------------------------------------------------------------------------

@main.command()
@click.option("--out", "-o", default="demo-run", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the demo data and run.")
@click.option("--noise", type=float, default=0.10, show_default=True,
              help="Fraction of labels flipped.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@handle_errors
def demo(out, noise, seed, device, quiet):
    """Run the whole pipeline on scikit-learn's digits with injected noise (no download).

    Writes the digits as PNGs with a manifest, flips --noise of the labels, then runs train,
    rank and export, and prints how well the flags match the flips.
    """
    from cleanlab_lite.demo import run_demo

    res = run_demo(out, noise=noise, seed=seed, device=device, quiet=quiet, log=echo)
    echo("")
    echo(f"Flags vs injected flips: precision {res['precision']:.3f}, recall "
               f"{res['recall']:.3f} ({res['true_positives']} of {res['num_flipped']} flips "
               f"found, {res['num_flagged']} rows flagged)")
    echo(f"Out-of-fold accuracy {res['oof_accuracy']:.4f} against the noisy labels, "
               f"{res['oof_accuracy_true']:.4f} against the true labels")
    echo(f"Total time {res['seconds']:.1f} s")
    echo(f"Files: manifest {res['manifest']}, run folder {res['run']}, "
               f"ranking {res['run']}/ranking.csv, cleaned manifest {res['cleaned']}")
    echo(f"Next: clean-labels report {res['run']}   or   "
               f"clean-labels check {res['run']} --max-issue-rate 2%")


# --- noise (evaluation helper) -----------------------------------------------------------------

@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--rate", default=None, metavar="RATE",
              help="Fraction of labels to flip: 0.2 or 20% (class_dependent: or give --trace).")
@click.option("--kind", type=click.Choice(["symmetric", "class_dependent", "pairwise"]),
              default="symmetric", show_default=True,
              help="symmetric: to any other class; class_dependent: a random noise matrix; "
                   "pairwise: class c to c+1 mod K.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Noisy manifest to write (.csv, .parquet or .jsonl; never the input).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--label-col", default="label", show_default=True, help="Label column to corrupt.")
@click.option("--true-col", default="true_label", show_default=True,
              help="New column that keeps the original label.")
@click.option("--trace", type=float, default=None,
              help="class_dependent: trace of the noise matrix (K * (1 - rate)).")
@click.option("--sparsity", type=float, default=0.0, show_default=True,
              help="class_dependent: fraction of off-diagonal noise-matrix entries that are zero.")
@handle_errors
def noise(manifest, rate, kind, out, seed, label_col, true_col, trace, sparsity):
    """Flip a known fraction of labels (for benchmarks), keeping the true label in a column.

    \b
    Examples:
      clean-labels noise data.csv --rate 0.2 --out noisy.csv
      clean-labels noise data.parquet --rate 40% --kind pairwise --out noisy.parquet --seed 1
      clean-labels noise data.csv --kind class_dependent --trace 8 --sparsity 0.5 --out noisy.csv
    """
    from cleanlab_lite.noise import noise_manifest, parse_rate

    res = noise_manifest(manifest, out, kind=kind, rate=parse_rate(rate), trace=trace,
                         sparsity=sparsity, seed=seed, label_col=label_col, true_col=true_col)
    echo(f"Wrote {res.out}: {res.num_flipped} of {res.n} labels flipped "
               f"({res.num_flipped / res.n:.1%}, {kind}, seed {seed}); true labels in {true_col!r}.")
    diag = res.realized_matrix.diagonal()
    echo("  per-class share flipped: " + ", ".join(
        f"{str(c)[:12]} {1 - d:.2f}" for c, d in zip(res.classes, diag)))


# ---- rank (scoring helper's section) --------------------------------------------------------
RANK_FLAGS = ("method", "adjust_pred_probs", "filter_by", "frac_noise", "num_to_remove_per_class",
              "min_examples_per_class", "device", "renormalize", "chunk_rows", "cj_argmax",
              "estimation_method")


@main.command()
@click.argument("run", required=False, type=click.Path(file_okay=False))
@click.option("--pred-probs", "pred_probs", multiple=True, type=click.Path(dir_okay=False),
              help="Out-of-fold probabilities (N, K) .npy from your own model; repeat to average "
                   "several (an ensemble). Needs --labels and --out.")
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False),
              help="With --pred-probs: a .npy of class indices, or a manifest (csv/parquet/jsonl).")
@click.option("--label-col", default=None, help="Label column of the --labels manifest [label].")
@click.option("--id-col", default=None, help="Id column of the --labels manifest, copied to ranking.csv.")
@click.option("--classes", "classes_path", type=click.Path(dir_okay=False),
              help="JSON list of class names in pred_probs column order.")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False),
              help="With --pred-probs: folder for ranking.csv and summary.json.")
@click.option("--method", help="Label quality score: self_confidence | normalized_margin | "
                                "confidence_weighted_entropy.")
@click.option("--adjust-pred-probs/--no-adjust-pred-probs", default=False,
              help="Subtract the per-class confident thresholds before scoring.")
@click.option("--filter-by", help="Flagging rule: adaptive (default) | prune_by_noise_rate | "
                                   "prune_by_class | both | "
                                   "confident_learning | predicted_neq_given | low_self_confidence "
                                   "| low_normalized_margin.")
@click.option("--frac-noise", type=float, help="Flag only this fraction of the estimated issues.")
@click.option("--num-to-remove-per-class", help="Comma list, one count per class (prune_by_* only).")
@click.option("--min-examples-per-class", type=int, help="Never prune a class below this many rows.")
@click.option("--cj-argmax", help="confident (argmax over classes above threshold) | cleanlab.")
@click.option("--estimation-method", help="adaptive (default) | off_diagonal | "
                                           "off_diagonal_calibrated.")
@click.option("--device", help="cpu | cuda | auto (torch kernels on the GPU).")
@click.option("--renormalize", is_flag=True, default=False,
              help="Divide each pred_probs row by its sum instead of rejecting rows not summing to 1.")
@click.option("--chunk-rows", type=int, help="Rows per chunk (default: about 8 MB of pred_probs).")
@click.option("--quiet", "-q", is_flag=True, help="No summary line.")
@config_option
@click.pass_context
@handle_errors
def rank(ctx, run, pred_probs, labels_path, label_col, id_col, classes_path, out, config_path, quiet,
         **_):
    """Score every row, flag likely label errors, estimate the noise rate.

    Writes ranking.csv (most suspect first) and summary.json into RUN (or --out).

    \b
    Examples:
      clean-labels rank run1
      clean-labels rank run1 --method normalized_margin --filter-by prune_by_noise_rate
      clean-labels rank --pred-probs oof.npy --labels labels.npy --out run2
      clean-labels rank --pred-probs a.npy --pred-probs b.npy --labels data.csv --label-col y --out run3
    """
    import json as _json

    from cleanlab_lite.config import RankConfig, build, load_yaml
    from cleanlab_lite.errors import ConfigError
    from cleanlab_lite.rank import rank_arrays, rank_run, read_labels_file

    flags = explicit_params(ctx, RANK_FLAGS)
    if "num_to_remove_per_class" in flags:
        try:
            flags["num_to_remove_per_class"] = tuple(
                int(v) for v in str(flags["num_to_remove_per_class"]).split(","))
        except ValueError:
            raise ConfigError(f"--num-to-remove-per-class {flags['num_to_remove_per_class']!r} is not "
                              "a comma list of integers; write e.g. 5,0,1") from None
    cfg = build(RankConfig, load_yaml(config_path).get("rank", {}), flags,
                source=(str(config_path), "flags"))
    if pred_probs:
        if run:
            raise ConfigError(f"pass either a run folder ({run}) or --pred-probs, not both")
        if not labels_path or not out:
            raise ConfigError("--pred-probs needs --labels (a .npy or manifest) and --out (a folder)")
        classes = None
        if classes_path:
            try:
                classes = _json.loads(Path(classes_path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise ConfigError(f"--classes {classes_path} cannot be read as a JSON list ({e})") from None
        from cleanlab_lite.scoring._source import as_source
        k = int(as_source(list(pred_probs)).shape[-1])
        labels, classes, ids = read_labels_file(labels_path, label_col, classes, k, id_col)
        pp = pred_probs[0] if len(pred_probs) == 1 else list(pred_probs)
        summary = rank_arrays(pp, labels, out, cfg, classes=classes, ids=ids, quiet=True)
        where = out
    else:
        if not run:
            raise ConfigError("pass a run folder (clean-labels rank RUN) or --pred-probs P.npy "
                              "--labels L --out DIR")
        summary = rank_run(run, cfg, quiet=True)
        where = run
    if not quiet:
        echo(f"Flagged {summary['num_flagged']} of {summary['n']} rows "
                   f"({summary['num_flagged'] / max(1, summary['n']):.1%}, {summary['filter_by']}); "
                   f"estimated noise rate {summary['estimated_noise_rate']:.1%} "
                   f"({summary['estimated_num_issues']} rows).")
        echo(f"How the count was chosen: {summary['flag_count']['how']}.")
        from cleanlab_lite.run import Run

        folder = Run(where)
        echo(f"Wrote {folder.ranking_path} and {folder.summary_path} "
                   f"in {summary['seconds'].get('total', 0):.2f} s.")
        _print_top_suspects(folder)
        for w in summary.get("warnings", []):
            echo(f"Warning: {w}")
        echo(f"Next: clean-labels review {where}  (decide row by row), clean-labels report "
             f"{where}, clean-labels export {where} --drop-flagged, or clean-labels check "
             f"{where} --max-issue-rate 2%")
