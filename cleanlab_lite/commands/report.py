"""`clean-labels report`: the HTML page people look at."""
from __future__ import annotations

from pathlib import Path

import click

from cleanlab_lite.commands.common import echo, handle_errors, run_argument


@click.command("report")
@run_argument
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (default RUN/report.html); PNG plots go beside it.")
@click.option("--top", default=50, show_default=True, type=click.IntRange(1, 10000),
              help="How many of the most suspect rows to show.")
@click.option("--thumb-size", default=96, show_default=True, type=click.IntRange(16, 512),
              help="Thumbnail size in pixels (image runs).")
@handle_errors
def command(run, out_path, top, thumb_size):
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
