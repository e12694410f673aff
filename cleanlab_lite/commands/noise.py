"""`clean-labels noise`: flip a known share of labels, for benchmarks."""
from __future__ import annotations

import click

from cleanlab_lite.commands.common import echo, handle_errors


@click.command("noise")
@click.argument("manifest", type=click.Path())
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
def command(manifest, rate, kind, out, seed, label_col, true_col, trace, sparsity):
    """Flip a known fraction of labels (for benchmarks), keeping the true label in a column.

    \b
    Examples:
      clean-labels noise data.csv --rate 0.2 --out noisy.csv
      clean-labels noise data.parquet --rate 40% --kind pairwise --out noisy.parquet --seed 1
      clean-labels noise data.csv --kind class_dependent --trace 8 --sparsity 0.5 --out noisy.csv
    """
    from cleanlab_lite.amounts import parse_rate
    from cleanlab_lite.noise import noise_manifest

    res = noise_manifest(manifest, out, kind=kind, rate=parse_rate(rate, "--rate"), trace=trace,
                         sparsity=sparsity, seed=seed, label_col=label_col, true_col=true_col)
    echo(f"Wrote {res.out}: {res.num_flipped} of {res.n} labels flipped "
         f"({res.num_flipped / res.n:.1%}, {kind}, seed {seed}); true labels in {true_col!r}.")
    diag = res.realized_matrix.diagonal()
    echo("  per-class share flipped: " + ", ".join(
        f"{str(c)[:12]} {1 - d:.2f}" for c, d in zip(res.classes, diag)))
