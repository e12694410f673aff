"""What every command shares: the escaping `echo`, the error edge that maps library exceptions to
exit codes, and reusable option decorators whose defaults come from the config dataclasses.

Errors the user can fix print one `Error: ...` line and exit 2; runtime failures exit 3, and so
does any unexpected exception, as one line (`--debug` or CLEAN_LABELS_DEBUG=1 shows the
traceback); `check` exits 1 when its gate fails. Every printed line goes through `echo`, which
shows terminal control characters (from labels, ids, paths) as escapes instead of sending them.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
import warnings

import click
from click.core import ParameterSource

from cleanlab_lite.errors import RuntimeFailure, UserInputError


class UserError(click.ClickException):
    """A one-line error for bad input; exit code 2."""
    exit_code = 2


class FailureError(click.ClickException):
    """A runtime failure that is not the user's input; exit code 3."""
    exit_code = 3


# terminal controls, bidi overrides, and zero-width characters (which make two labels look alike)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text) -> str:
    """`text` with terminal control characters (escape sequences, carriage returns, bidi
    overrides, zero-width characters) written as escapes like \\x1b; newlines and tabs are kept."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))


def echo(message="", err: bool = False) -> None:
    """click.echo of `message` with control characters escaped (see printable)."""
    click.echo(printable(message), err=err)


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    flag = bool(ctx and ctx.find_root().params.get("debug"))
    return flag or os.environ.get("CLEAN_LABELS_DEBUG", "") not in ("", "0")


def _unexpected(e: Exception) -> FailureError:
    if _debug():
        import traceback
        traceback.print_exc()
    first = (str(e).strip().splitlines() or [""])[0]
    return FailureError(printable(
        f"unexpected {type(e).__name__}{': ' + first if first else ''} (not a problem with "
        f"your input that clean-labels knows of); rerun with --debug or CLEAN_LABELS_DEBUG=1 "
        f"for the traceback and report it"))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning (matplotlib, scikit-learn...) as one escaped line on stderr: its text can
    carry a label, and a label can carry terminal controls."""
    text = printable(message).replace("\n", "\\n")
    echo(f"{category.__name__}: {text}", err=True)


def handle_errors(fn):
    """Turn library exceptions into one-line click errors with the contract's exit codes:
    UserInputError 2, RuntimeFailure and any unexpected exception 3 (never 1, which is the
    gate's). Python warnings raised meanwhile print as one escaped line each."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except UserInputError as e:
            raise UserError(printable(e)) from None
        except RuntimeFailure as e:
            raise FailureError(printable(e)) from None
        except KeyboardInterrupt:
            echo("Interrupted; finished work is kept and a rerun resumes from it.", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader of the output went away (`clean-labels rank RUN | head`): stop quietly
            # with 128 + SIGPIPE, as Unix tools do; files are written atomically, none is half
            # written. Later writes (Python's flush at exit) go to /dev/null.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            raise _unexpected(e) from None
    return wrapper


def explicit_params(ctx: click.Context, names) -> dict:
    """The options the user actually typed (flags win over the config file)."""
    out = {}
    for name in names:
        if name in ctx.params and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            out[name] = ctx.params[name]
    return out


def typed(ctx: click.Context, names) -> dict:
    """Like explicit_params, without the options left unset (None)."""
    return {k: v for k, v in explicit_params(ctx, names).items() if v is not None}


def default_of(cls, name: str):
    """The default of config field `name`: options show it, the dataclass declares it."""
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


def field_option(cls, name: str, *decls, **kwargs):
    """click.option for config field `name` of `cls`, showing the dataclass default. The value
    only reaches the config when typed (explicit_params), so the default has one home."""
    default = default_of(cls, name)
    kwargs.setdefault("show_default", default is not None)
    return click.option(*(decls or (f"--{name.replace('_', '-')}",)), default=default, **kwargs)


def apply(fn, opts):
    """Apply option decorators so they show in `--help` in the order listed."""
    for o in reversed(opts):
        fn = o(fn)
    return fn


def config_option(fn):
    return click.option("--config", "config_path", type=click.Path(dir_okay=False),
                        help="YAML config (sections data:, train:, rank:, check:); flags override "
                             "it.")(fn)


def run_argument(fn):
    from pathlib import Path

    return click.argument("run", type=click.Path(file_okay=False, path_type=Path))(fn)


CURRENT_DATA_OPTIONS = ("label_col", "path_col", "data_root", "embeddings", "allow_outside_root")


def current_data_options(fn):
    """How to read a manifest judged or predicted with a run's models (default: as the run did)."""
    return apply(fn, [
        click.option("--label-col", default=None, help="Label column [the run's]."),
        click.option("--path-col", default=None, help="Image path column [the run's]."),
        click.option("--data-root", type=click.Path(file_okay=False), default=None,
                     help="Folder image paths are relative to [the manifest's folder]."),
        click.option("--embeddings", type=click.Path(dir_okay=False), default=None,
                     help="Embeddings .npy (N, D) of the manifest's rows (embedding runs)."),
        click.option("--allow-outside-root", is_flag=True,
                     help="Accept image paths outside the data root [the run's setting]."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True, help="Where the fold models predict."),
    ])


def data_overrides(ctx: click.Context) -> dict:
    """The current_data_options the user typed."""
    return typed(ctx, CURRENT_DATA_OPTIONS)
