"""`clean-labels rank`: score every row, flag likely errors, estimate the noise."""
from __future__ import annotations

import click

from cleanlab_lite.commands.common import config_option, echo, explicit_params, handle_errors

RANK_FLAGS = ("method", "adjust_pred_probs", "filter_by", "frac_noise", "num_to_remove_per_class",
              "min_examples_per_class", "device", "renormalize", "chunk_rows", "cj_argmax",
              "estimation_method")
FILE = click.Path(dir_okay=False)


def rank_config(ctx: click.Context, config_path):
    """RankConfig from the defaults, then --config, then the typed flags."""
    from cleanlab_lite.config import RankConfig, build, load_yaml
    from cleanlab_lite.errors import ConfigError

    flags = explicit_params(ctx, RANK_FLAGS)
    if "num_to_remove_per_class" in flags:
        try:
            flags["num_to_remove_per_class"] = tuple(
                int(v) for v in str(flags["num_to_remove_per_class"]).split(","))
        except ValueError:
            raise ConfigError(f"--num-to-remove-per-class {flags['num_to_remove_per_class']!r} is "
                              "not a comma list of integers; write e.g. 5,0,1") from None
    return build(RankConfig, load_yaml(config_path).get("rank", {}), flags,
                 source=(str(config_path), "flags"))


def print_top_suspects(folder, n: int = 5) -> None:
    """The most suspect flagged rows, one line each."""
    top = folder.read_ranking().head(n)
    top = top[top.is_label_issue]
    if not len(top):
        return
    echo("Most suspect:")
    for r in top.records():
        ident = f" (id {r['id']})" if r.get("id") not in (None, "") else ""
        echo(f"  row {r['row']}{ident}: given {r['given_label']!r}, suggested "
             f"{r['suggested_label']!r} (p={r['suggested_confidence']:.2f}), "
             f"label quality {r['label_quality']:.4f}")


def print_summary(summary: dict, where) -> None:
    from cleanlab_lite.run import Run

    n = summary["n"]
    echo(f"Flagged {summary['num_flagged']} of {n} rows "
         f"({summary['num_flagged'] / max(1, n):.1%}, {summary['filter_by']}); "
         f"estimated noise rate {summary['estimated_noise_rate']:.1%} "
         f"({summary['estimated_num_issues']} rows).")
    echo(f"How the count was chosen: {summary['flag_count']['how']}.")
    folder = Run(where)
    echo(f"Wrote {folder.ranking_path} and {folder.summary_path} "
         f"in {summary['seconds'].get('total', 0):.2f} s.")
    print_top_suspects(folder)
    for w in summary.get("warnings", []):
        echo(f"Warning: {w['message']}")
    from cleanlab_lite.precision import estimate_lines

    for line in estimate_lines(where):
        echo(line)
    echo(f"Next: clean-labels review {where}  (decide row by row), clean-labels report "
         f"{where}, clean-labels export {where} --drop-flagged, or clean-labels check "
         f"{where} --max-issue-rate 2%")


@click.command("rank")
@click.argument("run", required=False, type=click.Path(file_okay=False))
@click.option("--pred-probs", "pred_probs", multiple=True, type=FILE,
              help="Out-of-fold probabilities (N, K) .npy from your own model; repeat to average "
                   "several (an ensemble). Needs --labels and --out.")
@click.option("--labels", "labels_path", type=FILE,
              help="With --pred-probs: a .npy of class indices, or a manifest (csv/parquet/jsonl).")
@click.option("--label-col", default=None, help="Label column of the --labels manifest [label].")
@click.option("--id-col", default=None, help="Id column of the --labels manifest, copied to ranking.csv.")
@click.option("--classes", "classes_path", type=FILE,
              help="JSON list of class names in pred_probs column order.")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False),
              help="With --pred-probs: folder for ranking.csv and summary.json.")
@click.option("--method", help="Label quality score: self_confidence | normalized_margin | "
                                "confidence_weighted_entropy.")
@click.option("--adjust-pred-probs/--no-adjust-pred-probs", default=False,
              help="Subtract the per-class confident thresholds before scoring.")
@click.option("--filter-by", help="Flagging rule: adaptive (default) | prune_by_noise_rate | "
                                   "prune_by_class | both | confident_learning | "
                                   "predicted_neq_given | low_self_confidence | "
                                   "low_normalized_margin.")
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
def command(ctx, run, pred_probs, labels_path, label_col, id_col, classes_path, out, config_path,
            quiet, **_):
    """Score every row, flag likely label errors, estimate the noise rate.

    Writes ranking.parquet, ranking.csv (most suspect first) and summary.json into RUN (or --out).

    \b
    Examples:
      clean-labels rank run1
      clean-labels rank run1 --method normalized_margin --filter-by prune_by_noise_rate
      clean-labels rank --pred-probs oof.npy --labels labels.npy --out run2
      clean-labels rank --pred-probs a.npy --pred-probs b.npy --labels data.csv --label-col y --out run3
    """
    from cleanlab_lite.errors import ConfigError
    from cleanlab_lite.rank import rank_files, rank_run

    cfg = rank_config(ctx, config_path)
    if pred_probs:
        if run:
            raise ConfigError(f"pass either a run folder ({run}) or --pred-probs, not both")
        if not labels_path or not out:
            raise ConfigError("--pred-probs needs --labels (a .npy or manifest) and --out (a folder)")
        summary = rank_files(list(pred_probs), labels_path, out, cfg, label_col=label_col,
                             classes_path=classes_path, id_col=id_col)
        where = out
    else:
        if not run:
            raise ConfigError("pass a run folder (clean-labels rank RUN) or --pred-probs P.npy "
                              "--labels L --out DIR")
        summary = rank_run(run, cfg)
        where = run
    if not quiet:
        print_summary(summary, where)
