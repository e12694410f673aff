"""`clean-labels demo`: the whole pipeline on scikit-learn's digits with injected noise."""
from __future__ import annotations

import click

from cleanlab_lite.commands.common import echo, handle_errors
from cleanlab_lite.config import DEVICES


@click.command("demo")
@click.option("--out", "-o", default="demo-run", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the demo data and run.")
@click.option("--noise", type=float, default=0.10, show_default=True,
              help="Fraction of labels flipped.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@handle_errors
def command(out, noise, seed, device, quiet):
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
