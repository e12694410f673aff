"""`clean-labels review`: decide on the suspects in the browser."""
from __future__ import annotations

import click

from cleanlab_lite.commands.common import echo, handle_errors, run_argument


@click.command("review")
@run_argument
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1; 0 picks a free one.")
@click.option("--top", default=None, type=click.IntRange(1, 1000000),
              help="Review the N most suspect rows (default: every flagged row).")
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@handle_errors
def command(run, port, top, no_browser):
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
