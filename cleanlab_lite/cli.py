"""The `clean-labels` command line: the group and its registry. Each command lives in its own
module under `cleanlab_lite.commands` (parse, call one library function, print); the error edge
and shared options are in `commands/common.py`. Importing this module imports click and the
config dataclasses only, so `clean-labels --help` answers without loading torch or pandas.
"""
from __future__ import annotations

import os
from importlib import import_module

import click

from cleanlab_lite import __version__
from cleanlab_lite.commands import COMMANDS
from cleanlab_lite.commands.common import echo, handle_errors, printable  # noqa: F401  (API)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clean-labels")
@click.option("--debug", is_flag=True, envvar="CLEAN_LABELS_DEBUG",
              help="Show the traceback of an unexpected error (also CLEAN_LABELS_DEBUG=1).")
def main(debug):
    """Find wrong labels in a classification dataset and write a cleaned one.

    \b
    Typical use:
      clean-labels train data/manifest.csv --out run1
      clean-labels rank run1
      clean-labels export run1 --drop-top 10%
      clean-labels check run1 --max-issue-rate 2%
    """
    # Once, before torch or scikit-learn load OpenMP: its threads sleep rather than spin while they
    # wait (spinning made CPU training steps up to 100x slower on a busy 2-core machine). Only a
    # default: an OMP_WAIT_POLICY already set wins. Fold processes inherit it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


for _name in COMMANDS:
    main.add_command(import_module(f"cleanlab_lite.commands.{_name}").command)
