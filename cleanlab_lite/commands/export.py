"""`clean-labels export`: a cleaned or relabeled manifest for retraining."""
from __future__ import annotations

import click

from cleanlab_lite.commands.common import UserError, echo, handle_errors
from cleanlab_lite.text import shown


def print_export(res) -> None:
    echo(f"Wrote {res.out}: {res.n_out} of {res.n_in} rows ({res.mode}).")
    cols = [c for c in res.per_class.columns if c not in ("class", "rows")]
    echo(f"  {'class':<16}{'rows':>8}" + "".join(f"{c:>16}" for c in cols))
    for d in res.per_class.to_dict(orient="records"):
        echo(f"  {shown(d['class'])[:15]:<16}{d['rows']:>8}" + "".join(f"{d[c]:>16}" for c in cols))
    if res.unreadable_dropped:
        echo(f"  also left out {res.unreadable_dropped} unreadable row(s) skipped at train time")
    if res.unlabeled_kept:
        echo(f"  kept {res.unlabeled_kept} row(s) without a label, unchanged")
    if res.folders is not None:
        f = res.folders
        echo(f"Wrote {f['files']} files into class folders under {res.folders_path} "
             f"({f['linked']} hard links, {f['copied']} copies, {f['renamed']} renamed)")
    for note in res.notes:
        echo(f"Note: {note}")
    echo(f"Next: retrain on it, e.g. clean-labels train {res.retrain_input} --out RUN2")


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--drop-top", default=None, help="Drop the most suspect rows: a count (250) or a "
              "percentage (10%).")
@click.option("--drop-flagged", is_flag=True, help="Drop every row flagged as a label issue.")
@click.option("--relabel", is_flag=True, help="Replace flagged rows' labels with the suggested "
              "label; the old one goes to column original_label.")
@click.option("--min-confidence", type=float, default=None,
              help="With --relabel: only where the model gives the suggestion at least this "
                   "probability.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Output manifest (default RUN/cleaned.<format>).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl"]), default=None,
              help="Output format (default: the input manifest's).")
@click.option("--decisions", type=click.Path(dir_okay=False), default=None,
              help="Reviewed decisions (RUN/decisions.csv from `review`, or a spreadsheet with "
                   "row, given_label, decision, label), applied before the mode.")
@click.option("--allow-class-loss", is_flag=True,
              help="Let --drop-flagged delete more than half of a class (refused without it).")
@click.option("--folders", type=click.Path(file_okay=False), default=None,
              help="Also write the kept images as FOLDERS/<class>/<file> (hard links where "
                   "possible, else copies; the originals are never moved).")
@handle_errors
def command(run, drop_top, drop_flagged, relabel, min_confidence, out, fmt, decisions,
            allow_class_loss, folders):
    """Write a cleaned or relabeled manifest for retraining (never over the input).

    \b
    Examples:
      clean-labels export run1 --drop-top 10%
      clean-labels export run1 --drop-top 250 --out clean.csv
      clean-labels export run1 --drop-flagged --format parquet
      clean-labels export run1 --relabel --min-confidence 0.9
      clean-labels export run1 --decisions run1/decisions.csv               # reviewed rows only
      clean-labels export run1 --drop-flagged --decisions run1/decisions.csv
      clean-labels export run1 --drop-flagged --folders cleaned-photos/    # a class-folder tree

    With --decisions, reviewed rows follow their decision (keep stays, relabel gets the new
    label, drop goes) and the mode acts on the other rows. --drop-flagged refuses to delete more
    than half of any class unless --allow-class-loss is given.
    """
    from cleanlab_lite.export import export_run

    chosen = [m for m, on in (("drop_top", drop_top is not None), ("drop_flagged", drop_flagged),
                              ("relabel", relabel)) if on]
    if len(chosen) > 1 or (not chosen and decisions is None):
        raise UserError("choose exactly one of --drop-top N|P%, --drop-flagged or --relabel "
                        "(or only --decisions FILE)")
    res = export_run(run, mode=chosen[0] if chosen else None, drop_top=drop_top,
                     min_confidence=min_confidence, out=out, fmt=fmt, decisions=decisions,
                     allow_class_loss=allow_class_loss, folders=folders)
    print_export(res)
    from cleanlab_lite.precision import estimate_lines

    for line in estimate_lines(run):
        echo(line)
