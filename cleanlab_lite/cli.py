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
