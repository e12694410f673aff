"""Output guards: the one place that decides whether a command may write a path.

No command writes over its inputs or over a file a run folder writes itself, whatever the
spelling of the path (relative, `..`, a symlink, a hardlink). Every command checks all of its
outputs here before it writes anything:

    check_output(path, "--json", run=run, inputs=[(baseline, "the baseline")], suffixes=(".json",))
    check_out_folder(out, "--out", inputs=[(manifest, "the manifest"), (config, "the config file")])

Both raise OutputError (exit 2) with one line naming the option, the path and the way out.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from cleanlab_lite.errors import OutputError
from cleanlab_lite.run import Run

Inputs = Iterable  # of paths, or of (path, what) pairs; None entries are ignored


def _named(inputs: Inputs) -> list[tuple[Path, str]]:
    out = []
    for item in inputs or ():
        path, what = item if isinstance(item, tuple) else (item, "an input of this command")
        if path is not None and str(path) != "":
            out.append((Path(path), what))
    return out


def same_file(a, b) -> bool:
    """Whether two paths name the same file: equal once resolved, or one inode (a hardlink)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _hardlinked_to(path: Path, others) -> bool:
    """Whether `path` is an existing file with several names, one of them among `others` (the
    others are only looked at when it has several names)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_nlink < 2:
        return False
    for q in others:
        try:
            sq = os.stat(q)
        except OSError:
            continue
        if (sq.st_dev, sq.st_ino) == (st.st_dev, st.st_ino):
            return True
    return False


def writable_parent(path, option: str, folder=None) -> None:
    """OutputError unless `folder` (default: the folder of `path`), or the nearest existing
    folder above it, is a folder we can write."""
    parent = Path(os.path.realpath(folder if folder is not None else Path(path).parent))
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path} ({parent} is a file, not a folder); choose a "
                          f"writable path for {option}")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path} ({parent} is not writable); choose a writable "
                          f"path for {option}")


def check_output(path, option: str, *, run: Run | None = None, inputs: Inputs = (),
                 suffixes: tuple[str, ...] = (), own: Path | None = None) -> Path:
    """Refuse an output file `path` given with `option` that is one of `inputs`, an input of
    `run` (its manifest, embeddings, an image) or a file `run` writes itself other than `own`
    (the command's own default output); also a wrong extension (`suffixes`, '' meaning none), a
    folder, and a path that cannot be written. Returns the path."""
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        ends = " or ".join(x for x in suffixes if x) + (" (or no extension)" if "" in suffixes else "")
        raise OutputError(f"{option} {p}: the file written is {suffixes[0]}, so the name must end "
                          f"in {ends}; use e.g. {p.with_suffix(suffixes[0])}")
    if p.is_dir():
        raise OutputError(f"{option} {p} is a folder; pass a file path")
    protected = _named(inputs) + (run.inputs_of_run() if run is not None else [])
    for q, what in protected:
        if same_file(p, q):
            raise OutputError(f"{option} {p} is {what} ({q}); no command writes over its input: "
                              "choose another path")
    for folder in [run] * (run is not None) + _run_folders_around(p):
        if folder.owns(p, own=own):
            raise OutputError(f"{option} {p} is a file of run folder {folder.path}, which "
                              "clean-labels writes itself; choose a path outside it or a new name")
    if run is not None:
        images = run.image_paths()
        if os.path.realpath(p) in images or _hardlinked_to(p, images):
            raise OutputError(f"{option} {p} is an image of this run; no command writes over its "
                              "input: choose another path")
    writable_parent(p, option)
    return p


def _run_folders_around(path: Path) -> list[Run]:
    """The run folders `path` lies in (its folder, or up to three more up: folds/repeat-r/fold-i/),
    known by the config.yaml of a train or the summary.json of a rank."""
    out = []
    for folder in list(Path(os.path.realpath(path)).parents)[:4]:
        r = Run(folder)
        if r.config_path.is_file() or r.summary_path.is_file():
            out.append(r)
    return out


def check_out_folder(out, option: str = "--out", *, inputs: Inputs = (), what: str = "the run") -> Path:
    """Refuse a folder `out` that a command fills with run files (train, rank --pred-probs,
    demo) when it is a file, when one of `inputs` is a file the folder would write (in any
    spelling: `--out .` beside a config.yaml), or when it cannot be written. Returns the path."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} {out} is a file; pass a folder for {what}")
    named = _named(inputs)
    hit = Run(out).owns_any([q for q, _ in named])
    if hit is not None:
        q, kind = next((q, k) for q, k in named if q == hit)
        raise OutputError(f"{option} {out} would overwrite {kind} {q}; no command writes over "
                          f"its input: choose another folder for {option}")
    writable_parent(out, option, folder=out)
    return out
