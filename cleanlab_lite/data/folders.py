"""Datasets kept as one folder per class, in and out.

In (`scan_class_folders`), torchvision ImageFolder's rules: each subfolder of the data folder is
a class named after it; every image file below it (nested folders included, symlinked files and
folders followed) is a row of that class; files with other extensions are skipped and counted;
files directly in the data folder belong to no class and are skipped too. Names starting with a
dot (.DS_Store, .ipynb_checkpoints) are skipped. The rows come in a stable order (class, then
path), with absolute paths, so the manifest built from them works from any folder.

Out (`write_class_tree`): OUT/<class>/<file> for given rows, as hard links where the file system
allows and copies otherwise; the originals are never moved or changed. Two rows that would land
on the same name keep both: the second gets the name of its own subfolder path joined with '__',
then a number.
"""
from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cleanlab_lite.errors import DataError, OutputError
from cleanlab_lite.io import atomic_path

# torchvision.datasets.folder.IMG_EXTENSIONS
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
PATH_COL, LABEL_COL = "path", "label"


@dataclass
class Scanned:
    """The rows found in a class-folder dataset."""
    table: pd.DataFrame        # path (absolute), label (the class folder's name)
    skipped: int               # files that are not images (or sit outside every class folder)
    root: Path                 # the data folder, absolute


def is_class_folder_dataset(path) -> bool:
    """Whether `path` is a folder (a class-folder dataset) rather than a manifest file."""
    return Path(path).is_dir()


def _visible(name: str) -> bool:
    return not name.startswith(".")


def scan_class_folders(folder) -> Scanned:
    """Every image below `folder`'s class subfolders (see the module docstring). A folder with
    no class subfolder, or a class without an image, is a DataError naming it and the layout."""
    root = Path(os.path.abspath(folder))
    if not root.is_dir():
        raise DataError(f"data folder {folder} not found; pass a manifest file or a folder "
                        "with one subfolder per class")
    entries = sorted((e for e in os.scandir(root) if _visible(e.name)), key=lambda e: e.name)
    classes = [e.name for e in entries if e.is_dir()]
    skipped = sum(1 for e in entries if not e.is_dir())
    if not classes:
        raise DataError(f"data folder {root} has no class subfolders; put each class's images "
                        "in a subfolder named after the class (DATA/cat/1.jpg, DATA/dog/2.jpg)")
    paths, labels = [], []
    for name in classes:
        found, other = _images_below(root / name)
        skipped += other
        if not found:
            raise DataError(f"class folder {root / name} holds no image ({', '.join(IMG_EXTENSIONS)}); "
                            "add images to it or remove it")
        paths += found
        labels += [name] * len(found)
    table = pd.DataFrame({PATH_COL: paths, LABEL_COL: pd.Series(labels, dtype=object)})
    return Scanned(table=table, skipped=skipped, root=root)


def _images_below(folder: Path) -> tuple[list[str], int]:
    """(sorted absolute paths of the image files below `folder`, count of other files)."""
    found, other = [], 0
    for top, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        for f in sorted(files):
            if not _visible(f):
                continue
            if f.lower().endswith(IMG_EXTENSIONS):
                found.append(os.path.join(top, f))
            else:
                other += 1
    return found, other


def check_tree_output(out, forbidden: list[tuple[str, Path]]) -> Path:
    """Refuse (OutputError) an --folders OUT that is a file, not empty, or inside (or the same
    as) one of `forbidden` ((what, folder): the data folder, the run folder)."""
    out = Path(out)
    real = Path(os.path.realpath(out))
    if out.exists() and not out.is_dir():
        raise OutputError(f"--folders {out} is a file; pass a new folder for the class tree")
    if out.is_dir() and any(out.iterdir()):
        raise OutputError(f"--folders {out} is not empty; pass a new or empty folder")
    for what, folder in forbidden:
        top = Path(os.path.realpath(folder))
        if real == top or top in real.parents:
            raise OutputError(f"--folders {out} is inside the {what} {folder}; write the class "
                              "tree outside it")
    return out


def write_class_tree(paths: list, classes: list[str], out) -> dict:
    """Hard-link (else copy) each file paths[i] to OUT/classes[i]/<name>; an item may also be
    (name, bytes), an image stored in the manifest, written as a new file. Returns counts
    {'files', 'linked', 'copied', 'renamed'}."""
    out = Path(out)
    taken: set[str] = set()
    counts = {"files": 0, "linked": 0, "copied": 0, "renamed": 0}
    for src, cls in zip(paths, classes):
        folder = out / _safe(str(cls))
        own = src[0] if isinstance(src, tuple) else src
        name = _free_name(folder, own, taken)
        counts["renamed"] += name != os.path.basename(own)
        target = folder / name
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(src, tuple):
            with atomic_path(target) as tmp:
                tmp.write_bytes(src[1])
            counts["copied"] += 1
        else:
            try:
                os.link(os.path.realpath(src), target)
                counts["linked"] += 1
            except OSError:
                with atomic_path(target) as tmp:
                    shutil.copy2(src, tmp)
                counts["copied"] += 1
        counts["files"] += 1
    return counts


def _safe(name: str) -> str:
    """A class name as one folder name (no separators, not '.' or '..', not empty)."""
    cleaned = name.replace("/", "_").replace(os.sep, "_").strip()
    return cleaned if cleaned not in ("", ".", "..") else f"_{cleaned}_"


def _free_name(folder: Path, src: str, taken: set[str]) -> str:
    """The file's own name in `folder`, or, when taken, its parent folders' names joined with
    '__' in front, then a counter: never the name of another file."""
    parts = Path(src).parts
    candidates = [parts[-1]] + ["__".join(parts[-k:]) for k in range(2, min(len(parts), 4) + 1)]
    stem, suffix = os.path.splitext(parts[-1])
    numbered = (f"{stem}-{n}{suffix}" for n in range(1, 1_000_000))   # made only when needed
    for name in itertools.chain(candidates, numbered):
        key = str(folder / name)
        if key not in taken and not os.path.lexists(key):
            taken.add(key)
            return name
    raise OutputError(f"cannot find a free name for {src} in {folder}")


def folder_config(cfg, root: Path):
    """The data options of a class-folder dataset: the built manifest's columns, images under
    `root` (symlinks followed wherever they lead, as ImageFolder does)."""
    import dataclasses

    return dataclasses.replace(cfg, path_col=PATH_COL, label_col=LABEL_COL, data_root=str(root),
                               allow_outside_root=True, id_col=None, group_col=None,
                               weight_col=None, feature_cols=None, embeddings=None)


def check_run_outside(folder, out) -> None:
    """Refuse a run folder inside the data folder: the next scan would take it for a class."""
    top, real = Path(os.path.realpath(folder)), Path(os.path.realpath(out))
    if real == top or top in real.parents:
        raise OutputError(f"--out {out} is inside the data folder {folder}, where it would be "
                          "read as a class; choose a folder outside it")


def read_table(path, cfg=None, *, raw: bool = False, text_cols=()):
    """(rows, data options) of a manifest file or a class-folder dataset: a folder's rows are
    `scan_class_folders`'s and its options `folder_config(cfg)` (cfg None: no options)."""
    from cleanlab_lite.data.manifest import read_manifest

    if is_class_folder_dataset(path):
        scanned = scan_class_folders(path)
        return scanned.table, (folder_config(cfg, scanned.root) if cfg is not None else None)
    return read_manifest(path, raw=raw, text_cols=text_cols), cfg
