"""`clean-labels review`: decide on the suspects in the browser."""
from __future__ import annotations

import click

from cleanlab_lite.commands.common import UserError, echo, handle_errors, run_argument


@click.command("review")
@run_argument
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1; 0 picks a free one.")
@click.option("--top", default=None, type=click.IntRange(1, 1000000),
              help="Review the N most suspect rows (default: every flagged row).")
@click.option("--sample", default=None, type=click.IntRange(1, 1000000),
              help="Review N flagged rows drawn at random (stratified by class); their decisions "
                   "estimate the share of flags that are real errors.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of --sample.")
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@handle_errors
def command(run, port, top, sample, seed, no_browser):
    """Review the suspects in the browser; decisions are saved to RUN/decisions.csv.

    Serves a page on 127.0.0.1 (the printed URL carries a random token): images as a grid grouped
    by (given -> suggested) pair with each class's typical images, tables as a list; filter,
    sort, select several cards and decide for all. Keys: j/k move, a accepts the suggestion, the
    key on a top-choice button picks it (1-9, or letters when class names are numbers, which
    are then typed as such), / relabels to any class, space keeps, x drops, s skips, u undoes.
    Each decision is saved at once, so a reload or a restart resumes. Stop with Ctrl-C, then
    apply the decisions with export.

    \b
    Examples:
      clean-labels review run1
      clean-labels review run1 --top 300 --port 8765 --no-browser
      clean-labels review run1 --sample 40       # how many flags are real errors?
      clean-labels export run1 --drop-flagged --decisions run1/decisions.csv
    """
    from cleanlab_lite.review import serve

    if sample is not None and top is not None:
        raise UserError("choose --sample N (a random sample of the flags) or --top N, not both")
    res = serve(run, port=port, top=top, sample=sample, seed=seed, open_browser=not no_browser,
                log=echo)
    c = res.counts
    echo(f"{res.decided} decisions in {res.path} (keep {c['keep']}, relabel {c['relabel']}, "
         f"drop {c['drop']}).")
    echo(f"Next: clean-labels export {run} --decisions {res.path}   (add --drop-flagged to "
         f"also drop the flagged rows not reviewed)")
