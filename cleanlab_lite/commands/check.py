"""`clean-labels check`: the CI data-quality gate."""
from __future__ import annotations

from pathlib import Path

import click

from cleanlab_lite.commands.common import (UserError, config_option, current_data_options,
                                           data_overrides, echo, handle_errors, run_argument,
                                           typed)

LIMITS = ("max_issue_rate", "max_issues", "max_class_issue_rate")
FILE = click.Path(dir_okay=False, path_type=Path)


def _next_steps(ctx, run, manifest, result) -> None:
    """The way out of a failed gate, then exit 1."""
    if manifest is not None:
        echo(f"Next: fix the labels named above in {manifest} (suggestions in "
             f"{result.delta['ranking']}) or accept reviewed rows with --write-baseline.")
    else:
        from cleanlab_lite.run import Run

        echo(f"Next: review with `clean-labels review {run}` and pass its decisions with "
             f"--baseline {Run(run).decisions_path}, accept today's suspects with "
             f"--write-baseline, or drop them with `clean-labels export {run} --drop-flagged`.")
    ctx.exit(1)


@click.command("check")
@run_argument
@click.option("--manifest", "manifest", type=click.Path(path_type=Path),
              help="Judge only what changed in this manifest (or folder of class subfolders) "
                   "since RUN was trained (no retraining); the limits apply to the changed rows.")
@click.option("--max-issue-rate", metavar="RATE",
              help="Fail when new suspect labels exceed this share of all rows: 2% or 0.02.")
@click.option("--max-issues", metavar="N", help="Fail when there are more than N new suspect labels.")
@click.option("--max-class-issue-rate", metavar="RATE",
              help="Fail when any class has more than this share of its rows flagged: 5% or 0.05.")
@click.option("--baseline", type=FILE,
              help="CSV of reviewed, accepted rows (column id, or row + given_label), or a "
                   "decisions.csv from `review`; they do not count.")
@click.option("--write-baseline", "write_baseline_to", type=FILE,
              help="Write every flagged row to this CSV as accepted, then check against it.")
@click.option("--json", "json_path", type=FILE, help="Write the result as JSON.")
@click.option("--junit", "junit_path", type=FILE,
              help="Write JUnit XML: one testcase per class plus an overall one.")
@click.option("--markdown", "markdown_path", type=FILE, envvar="GITHUB_STEP_SUMMARY",
              show_envvar=True,
              help="Append a Markdown summary to this file (default: $GITHUB_STEP_SUMMARY if set).")
@current_data_options
@config_option
@click.pass_context
@handle_errors
def command(ctx, run, manifest, baseline, write_baseline_to, json_path, junit_path,
            markdown_path, config_path, device, **_):
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

    values = dict(load_yaml(config_path).get("check", {}))
    values.update(typed(ctx, LIMITS))
    limits = gate.make_config(values, source=f"config {config_path}" if config_path else "check")
    overrides = data_overrides(ctx)
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
    from cleanlab_lite.precision import estimate_lines

    for line in estimate_lines(run):
        echo(line)
    if limits == gate.CheckConfig():
        echo("No limits set, so the gate cannot fail; add e.g. --max-issue-rate 2%.")
    if write_baseline_to:
        echo(f"Baseline: {result.accepted} flagged rows written to {write_baseline_to}.")
    written = [str(p) for p in (json_path, junit_path, markdown_path) if p]
    if written:
        echo("Wrote " + ", ".join(written) + ".")
    if not result.passed:
        _next_steps(ctx, run, manifest, result)
