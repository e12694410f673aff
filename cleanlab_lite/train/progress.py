"""What training shows while it runs, on stderr: one-line messages and progress bars (tqdm).
No torch here; every backend (the fold loop, the scikit-learn models, Ray, the fold processes)
reports through these.

While `board(...)` is open, the bars of one training call are an overall bar (every epoch of
every fold still to train, with the time left) above one bar per running fold. A fold asks for
its bar with `bar(...)`; in a fold process (`set_sink`) the bar's updates travel to the driver's
board through a queue, so the driver draws every running fold.
"""
from __future__ import annotations

import contextlib
import sys

_board: "Board | None" = None    # the board of the training call running in this process
_sink = None                     # in a fold process: the queue to the driver's board


def say(msg: str, quiet: bool) -> None:
    """One message line, printed between the progress bars."""
    if not quiet:
        from tqdm.auto import tqdm

        tqdm.write(msg, file=sys.stderr)


def _tqdm(total: int, desc: str, quiet: bool, *, unit: str = "epoch", position: int | None = None,
          leave: bool = False):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=quiet, leave=leave,
                position=position, dynamic_ncols=True)


class Board:
    """An overall bar over `total` epochs (or folds) and one bar per running fold below it."""

    def __init__(self, total: int, desc: str, quiet: bool, unit: str = "epoch"):
        self.quiet = quiet
        self.overall = _tqdm(total, desc, quiet, unit=unit, position=0, leave=False)
        self.folds: dict[str, object] = {}
        self.free: list[int] = []

    def start(self, desc: str, total: int) -> None:
        pos = self.free.pop(0) if self.free else len(self.folds) + 1
        self.folds[desc] = _tqdm(total, desc, self.quiet, position=pos)
        self.folds[desc].pos = pos

    def advance(self, desc: str, n: int = 1, **postfix) -> None:
        b = self.folds.get(desc)
        if b is not None:
            if postfix:
                b.set_postfix(**postfix, refresh=False)
            b.update(n)
        self.overall.update(n)

    def end(self, desc: str) -> None:
        b = self.folds.pop(desc, None)
        if b is not None:
            self.free.append(b.pos)
            self.free.sort()
            b.close()

    def handle(self, msg: tuple) -> None:
        """A message from a fold process: ("start", desc, total) | ("advance", desc, n, postfix)
        | ("end", desc)."""
        kind, desc, *rest = msg
        if kind == "start":
            self.start(desc, *rest)
        elif kind == "advance":
            self.advance(desc, rest[0], **rest[1])
        else:
            self.end(desc)

    def close(self) -> None:
        for desc in list(self.folds):
            self.end(desc)
        self.overall.close()


@contextlib.contextmanager
def board(total: int, desc: str, quiet: bool, unit: str = "epoch"):
    """Open the board of one training call in this process (see the module docstring)."""
    global _board
    old, _board = _board, Board(total, desc, quiet, unit)
    try:
        yield _board
    finally:
        _board.close()
        _board = old


def current() -> "Board | None":
    """The open board of this process, if any."""
    return _board


def set_sink(queue) -> None:
    """In a fold process: send every fold bar's updates to `queue` (the driver's board)."""
    global _sink
    _sink = queue


class _FoldBar:
    """A fold's bar that draws on the board (in this process, or through the sink)."""

    def __init__(self, send, desc: str, total: int):
        self.send, self.desc, self.postfix = send, desc, {}
        send(("start", desc, total))

    def set_postfix(self, refresh: bool = False, **kw) -> None:
        self.postfix = {k: str(v) for k, v in kw.items()}

    def update(self, n: int = 1) -> None:
        self.send(("advance", self.desc, n, self.postfix))

    def close(self) -> None:
        self.send(("end", self.desc))


def bar(total: int, desc: str, quiet: bool, *, unit: str = "epoch"):
    """The progress bar of one fold: on the open board (or the driver's, from a fold process),
    else a plain tqdm bar on stderr (disabled when quiet)."""
    if quiet:
        return _tqdm(total, desc, quiet, unit=unit)
    if _sink is not None:
        return _FoldBar(_sink.put, desc, total)
    if _board is not None:
        return _FoldBar(_board.handle, desc, total)
    return _tqdm(total, desc, quiet, unit=unit)
