"""The `clean-labels` command line: click commands only. Each command parses its options,
builds a config, calls one library function and prints a short summary.

Errors the user can fix print one `Error: ...` line and exit 2; runtime failures exit 3;
`check` exits 1 when its gate fails.
"""
from __future__ import annotations

import functools
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


def handle_errors(fn):
    """Turn library exceptions into one-line click errors with the contract's exit codes."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserInputError as e:
            raise UserError(str(e)) from None
        except RuntimeFailure as e:
            raise FailureError(str(e)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted; finished work is kept and a rerun resumes from it.", err=True)
            sys.exit(130)
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
def main():
    """Find wrong labels in a classification dataset and write a cleaned one.

    \b
    Typical use:
      clean-labels train data/manifest.csv --out run1
      clean-labels rank run1
      clean-labels export run1 --drop-top 10%
      clean-labels check run1 --max-issue-rate 2%
    """


# ---- check / report (owner: check-report helper) -------------------------------------------


@main.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--max-issue-rate", metavar="RATE",
              help="Fail when new suspect labels exceed this share of all rows: 2% or 0.02.")
@click.option("--max-issues", metavar="N", help="Fail when there are more than N new suspect labels.")
@click.option("--max-class-issue-rate", metavar="RATE",
              help="Fail when any class has more than this share of its rows flagged: 5% or 0.05.")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV of reviewed, accepted rows (column id, or row + given_label); "
                   "they do not count.")
@click.option("--write-baseline", "write_baseline_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every flagged row to this CSV as accepted, then check against it.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML: one testcase per class plus an overall one.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="GITHUB_STEP_SUMMARY", show_envvar=True,
              help="Append a Markdown summary to this file (default: $GITHUB_STEP_SUMMARY if set).")
@config_option
@click.pass_context
@handle_errors
def check(ctx, run, max_issue_rate, max_issues, max_class_issue_rate, baseline, write_baseline_to,
          json_path, junit_path, markdown_path, config_path):
    """CI data-quality gate on a ranked run folder.

    Exit code 0 when the new suspect labels are within the limits, 1 when they are over,
    2 on bad input. Rows listed in --baseline were reviewed and accepted and do not count.
    Limits may also come from the `check:` section of --config.

    \b
    Examples:
      clean-labels check run1 --max-issue-rate 2%
      clean-labels check run1 --max-issues 50 --max-class-issue-rate 10% --junit check.xml
      clean-labels check run1 --write-baseline accepted.csv      # accept today's suspects
      clean-labels check run1 --baseline accepted.csv --max-issues 0
    """
    from cleanlab_lite import check as gate
    from cleanlab_lite.config import load_yaml

    names = ["max_issue_rate", "max_issues", "max_class_issue_rate"]
    values = dict(load_yaml(config_path).get("check", {}))
    values.update({k: v for k, v in explicit_params(ctx, names).items() if v is not None})
    limits = gate.make_config(values, source=f"config {config_path}" if config_path else "check")
    result = gate.gate(run, limits, baseline=baseline, write_baseline_to=write_baseline_to,
                       json_path=json_path, junit_path=junit_path, markdown_path=markdown_path)
    click.echo(gate.format_table(result))
    click.echo(gate.verdict(result))
    if limits == gate.CheckConfig():
        click.echo("No limits set, so the gate cannot fail; add e.g. --max-issue-rate 2%.")
    if write_baseline_to:
        click.echo(f"Baseline: {result.accepted} flagged rows written to {write_baseline_to}.")
    written = [str(p) for p in (json_path, junit_path, markdown_path) if p]
    if written:
        click.echo("Wrote " + ", ".join(written) + ".")
    if not result.passed:
        click.echo(f"Next: review with `clean-labels report {run}`, then accept reviewed rows with "
                   f"--write-baseline or drop them with `clean-labels export {run} --drop-flagged`.")
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
    click.echo(rep.summary_text(result))
