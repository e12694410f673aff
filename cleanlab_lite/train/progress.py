"""What training shows while it runs, on stderr: one-line messages and progress bars (tqdm).
No torch here; every backend (the fold loop, the scikit-learn models, Ray, the concurrent fold
processes) reports through these."""
from __future__ import annotations

import sys


def say(msg: str, quiet: bool) -> None:
    """One message line, printed between the progress bars."""
    if not quiet:
        from tqdm.auto import tqdm

        tqdm.write(msg, file=sys.stderr)


def bar(total: int, desc: str, quiet: bool, *, unit: str = "epoch", position: int | None = None,
        leave: bool = False):
    """A tqdm bar on stderr (disabled when quiet)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=quiet, leave=leave,
                position=position, dynamic_ncols=True)
