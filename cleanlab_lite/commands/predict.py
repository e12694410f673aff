"""`clean-labels predict`: the fold ensemble's probabilities for any manifest."""
from __future__ import annotations

from pathlib import Path

import click

from cleanlab_lite.commands.common import (current_data_options, data_overrides, echo,
                                           handle_errors, run_argument)


@click.command("predict")
@run_argument
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the probabilities: a .npy, float32 (N, K).")
@current_data_options
@click.pass_context
@handle_errors
def command(ctx, run, manifest, out, device, **_):
    """The fold ensemble's probabilities for every row of MANIFEST (labels not needed; a folder
    of class subfolders works too).

    Each of RUN's k fold models predicts every row with the run's preprocessing and TTA; the
    mean is written to --out in the manifest's row order, one column per class in the order of
    RUN/classes.json. No fold model has seen a new row, so this is an honest prediction.

    \b
    Example:
      clean-labels predict run1 new-batch.csv --out new-batch-probs.npy
    """
    from cleanlab_lite.predict import predict_manifest

    res = predict_manifest(run, manifest, out=out, device=device, overrides=data_overrides(ctx))
    shown = ", ".join(map(str, res.classes[:10])) + (", ..." if len(res.classes) > 10 else "")
    echo(f"Wrote {res.out}: {res.n} rows x {len(res.classes)} classes, the mean of "
         f"{res.folds} fold models ({res.kind}) in {res.seconds:.1f} s.")
    echo(f"Columns are the run's classes, in order: {shown}")
