"""Turn a manifest into a validated Dataset: columns, labels, class map, features or images."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.config import DataConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.data.features import FeatureSpec, choose_features, feature_matrix, rows_text
from cleanlab_lite.data.labels import encode_labels, unlabeled_mask
from cleanlab_lite.data.manifest import read_manifest
from cleanlab_lite.errors import ColumnError, DataError, ImageError
from cleanlab_lite.io import check_input_file

RESERVED = ("row", "fold")


@dataclass
class Loaded:
    """A Dataset plus what the run folder records about where it came from."""
    dataset: Dataset | None
    table: pd.DataFrame            # kept manifest rows, with `row` (position in the manifest)
    class_values: list             # class labels as they appear in the manifest, index order
    skipped: list = field(default_factory=list)  # (row, path, reason) left out by --skip-bad
    unlabeled: np.ndarray | None = None  # manifest rows left out for having no label
    spec: FeatureSpec | None = None      # tabular feature columns and levels
    path_col: str | None = None          # the image column read (--path-col, or stored images)
    image_size: int | None = None
    cache_path: str | None = None
    cache_reused: bool = False


def _require(df: pd.DataFrame, manifest, col: str | None, flag: str) -> None:
    if col is not None and col not in df.columns:
        cols = ", ".join(map(str, df.columns[:20]))
        raise ColumnError(f"manifest {manifest} has no column {col!r} ({flag}); "
                          f"its columns are: {cols}")


def check_unique_ids(ids: pd.Series, where: str, col: str) -> None:
    """Every id present and distinct, so one id names one row (baselines, decisions)."""
    empty = ids.isna().to_numpy()
    if empty.any():
        raise DataError(f"{where}, row {int(np.flatnonzero(empty)[0])}: id column {col!r} "
                        "(--id-col) is empty; give every row an id")
    dup = ids.astype(str).duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids.astype(str).to_numpy()[dup][0]
        rows = np.flatnonzero(ids.astype(str).to_numpy() == first)
        raise DataError(f"{where}: id {first!r} (column {col!r}, --id-col) is on {rows_text(rows)}; "
                        "ids must be unique: fix them or drop --id-col")


def _outside_root(paths: list[str], roots: list[Path]) -> int | None:
    """Position of the first path that resolves (symlinks included) outside every one of
    `roots`, or None."""
    prefixes = tuple(os.path.realpath(r).rstrip(os.sep) + os.sep for r in roots)
    real_dirs: dict[str, str] = {}
    for i, p in enumerate(paths):
        d, name = os.path.split(os.path.normpath(p))
        if d not in real_dirs:
            real_dirs[d] = os.path.realpath(d)
        real = os.path.join(real_dirs[d], name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not real.startswith(prefixes):
            return i
    return None


def _allowed_roots(manifest: Path, cfg: DataConfig) -> list[Path]:
    """Where image paths may lead: --data-root; else the manifest's folder and, for a manifest a
    run folder holds (export's cleaned manifest, the one built from class folders), the data
    root that run was trained on."""
    if cfg.data_root:
        return [Path(cfg.data_root)]
    from cleanlab_lite.run import Run

    recorded = Run(manifest.parent).recorded_data_root()
    return [manifest.parent] + ([Path(recorded)] if recorded else [])


def feature_columns(df: pd.DataFrame, cfg: DataConfig, manifest) -> list[str]:
    """The tabular feature columns `choose_features` picks (in matrix order)."""
    return choose_features(df, cfg, manifest).columns


def _table(manifest: Path, cfg: DataConfig, df: pd.DataFrame | None) -> pd.DataFrame:
    """The manifest's rows with `row` (0-based position), columns and ids checked."""
    if df is None:
        df = read_manifest(manifest, text_cols=(cfg.label_col, cfg.id_col, cfg.group_col))
    for c in RESERVED:
        if c in df.columns:
            raise ColumnError(f"manifest {manifest} has a column named {c!r}, which the run folder "
                              f"uses; rename that column")
    _require(df, manifest, cfg.label_col, "--label-col")
    _require(df, manifest, cfg.id_col, "--id-col")
    _require(df, manifest, cfg.group_col, "--group-col")
    _require(df, manifest, cfg.weight_col, "--weight-col")
    df = df.reset_index(drop=True)
    df.insert(0, "row", np.arange(len(df), dtype=np.int64))
    if cfg.id_col:
        check_unique_ids(df[cfg.id_col], f"manifest {manifest}", cfg.id_col)
    return df


def _labelled(df: pd.DataFrame, cfg: DataConfig, manifest: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """(the rows with a label, the manifest rows of those without one)."""
    empty = unlabeled_mask(df[cfg.label_col])
    if not empty.any():
        return df, np.zeros(0, dtype=np.int64)
    if empty.all():
        raise DataError(f"manifest {manifest}: column {cfg.label_col!r} (--label-col) is empty on "
                        "every row; label at least one row per class")
    return df[~empty].reset_index(drop=True), df["row"].to_numpy()[empty]


@dataclass
class Table:
    """A manifest read and checked before any image is decoded or feature parsed: the rows as
    read (`df`, for load_dataset), the data kind, and the labelled rows' labels and groups."""
    df: pd.DataFrame
    kind: str
    labels: np.ndarray
    class_values: list
    groups: np.ndarray | None
    image_paths: list[str]      # image runs: the image files named (not images stored inline)


def read_table(manifest: str | Path, cfg: DataConfig, df: pd.DataFrame | None = None) -> Table:
    """Read `manifest` and check columns, ids, labels, weights (per class too) and groups, so
    bad input is refused before the slow steps (image decoding) write anything."""
    manifest = Path(manifest)
    raw = df if df is not None else read_manifest(
        manifest, text_cols=(cfg.label_col, cfg.id_col, cfg.group_col))
    t, _ = _labelled(_table(manifest, cfg, raw), cfg, manifest)
    labels, classes = encode_labels(t[cfg.label_col],
                                    where=f"manifest {manifest} column {cfg.label_col!r}")
    _class_weights_given(t, cfg, manifest, labels, classes)
    stored = stored_image_column(t, cfg)
    col = stored or cfg.path_col
    kind = "embedding" if cfg.embeddings else ("image" if col in t.columns else "tabular")
    paths = []
    if kind == "image" and stored is None:
        root = Path(cfg.data_root) if cfg.data_root else manifest.parent
        paths = [p for p in _image_sources(t[col].dropna(), root) if isinstance(p, str)]
    return Table(raw, kind, labels, classes, _groups(t, cfg, manifest), paths)


def _class_weights_given(df: pd.DataFrame, cfg: DataConfig, manifest: Path, labels: np.ndarray,
                         classes: list) -> np.ndarray | None:
    """--weight-col checked (see _weights), and > 0 somewhere in every class: a class whose rows
    all weigh 0 is never learned, and all its rows would be flagged. Returns the weights."""
    w = _weights(df, cfg, manifest)
    if w is None:
        return None
    zero = np.flatnonzero(np.bincount(labels, weights=w, minlength=len(classes)) == 0)
    if len(zero):
        raise DataError(f"manifest {manifest}: weight column {cfg.weight_col!r} is 0 on every row "
                        f"of class {str(classes[int(zero[0])])!r}, so no model can learn that "
                        "class and all its rows would be flagged; give some of its rows a "
                        "weight > 0, or leave the class out of the manifest")
    return w


def load_dataset(manifest: str | Path, cfg: DataConfig, *, cache_dir: str | Path | None = None,
                 df: pd.DataFrame | None = None, allow_nan: bool = False,
                 spec: FeatureSpec | None = None) -> Loaded:
    """Read and validate `manifest` per `cfg`; decode images into `cache_dir` if given.
    Rows without a label are left out (their rows in `Loaded.unlabeled`).
    allow_nan: missing (NaN) tabular features are kept, for models that handle them (hgb).
    spec: the tabular feature columns and levels to use (a run's), instead of choosing them."""
    manifest = Path(manifest)
    df, unlabeled = _labelled(_table(manifest, cfg, df), cfg, manifest)
    stored = stored_image_column(df, cfg)
    if stored is not None:
        cfg = dataclasses.replace(cfg, path_col=stored)
    kind = "embedding" if cfg.embeddings else ("image" if cfg.path_col in df.columns else "tabular")
    if cfg.embeddings is None and cfg.feature_cols is None and cfg.path_col not in df.columns \
            and cfg.path_col != "path":
        _require(df, manifest, cfg.path_col, "--path-col")
    loaded = Loaded(dataset=None, table=df, class_values=[], unlabeled=unlabeled,
                    path_col=cfg.path_col)
    if kind == "image":
        X = _images(loaded, manifest, cfg, cache_dir)
    elif kind == "embedding":
        X = _load_embeddings(cfg.embeddings, len(df) + len(unlabeled), df["row"].to_numpy())
    else:
        loaded.spec = spec or choose_features(df, cfg, manifest)
        X, kept, loaded.skipped = feature_matrix(df, loaded.spec, manifest, cfg.skip_bad, allow_nan)
        if len(kept) < len(df):
            loaded.table = df.iloc[kept].reset_index(drop=True)
    df = loaded.table
    labels, loaded.class_values = encode_labels(
        df[cfg.label_col], where=f"manifest {manifest} column {cfg.label_col!r}")
    loaded.dataset = Dataset(kind=kind, X=X, labels=labels,
                             classes=[str(c) for c in loaded.class_values],
                             weights=_class_weights_given(df, cfg, manifest, labels,
                                                          loaded.class_values),
                             groups=_groups(df, cfg, manifest),
                             feature_names=loaded.spec.columns if loaded.spec else None,
                             levels=loaded.spec.levels() if loaded.spec else None)
    return loaded


def _images(loaded: Loaded, manifest: Path, cfg: DataConfig, cache_dir) -> np.ndarray:
    """Decode the rows' images (bad ones left out with --skip-bad); returns X."""
    from cleanlab_lite.data.images import decode_images

    df = loaded.table
    root = Path(cfg.data_root) if cfg.data_root else manifest.parent
    col = df[cfg.path_col]
    empty = col.isna().to_numpy()
    if empty.any():
        r = int(df["row"].iloc[int(np.flatnonzero(empty)[0])])
        raise DataError(f"manifest {manifest}, row {r}: column {cfg.path_col!r} (--path-col) "
                        "is empty; every row needs an image path")
    paths = _image_sources(col, root)
    files = [i for i, p in enumerate(paths) if isinstance(p, str)]
    outside = None if cfg.allow_outside_root or not files else \
        _outside_root([paths[i] for i in files], _allowed_roots(manifest, cfg))
    outside = None if outside is None else files[outside]
    if outside is not None:
        raise ImageError(f"manifest {manifest}, row {int(df['row'].iloc[outside])}: image "
                         f"{col.iloc[outside]!r} (column {cfg.path_col!r}) is outside the data root "
                         f"{os.path.realpath(root)}; fix the path, set --data-root, or pass "
                         "--allow-outside-root")
    dec = decode_images(paths, rows=df["row"].to_numpy(), path_col=cfg.path_col,
                        image_size=cfg.image_size, skip_bad=cfg.skip_bad,
                        cache_dir=cache_dir, workers=cfg.decode_workers)
    loaded.skipped = [(int(df["row"].iloc[i]), p, reason) for i, p, reason in dec.bad]
    if len(dec.kept) < len(df):
        loaded.table = df.iloc[dec.kept].reset_index(drop=True)
    loaded.image_size, loaded.cache_reused = dec.size, dec.reused
    loaded.cache_path = str(dec.cache_path) if dec.cache_path else None
    return dec.X


def stored_image_column(df: pd.DataFrame, cfg: DataConfig) -> str | None:
    """The column holding images as {bytes, path} structs (the layout Hugging Face `datasets`
    writes to Parquet) when --path-col names no column: --path-col's own name first."""
    if cfg.path_col in df.columns and not _holds_stored_images(df[cfg.path_col]):
        return None
    for c in [cfg.path_col] + [c for c in df.columns if c != cfg.path_col]:
        if c in df.columns and _holds_stored_images(df[c]):
            return c
    return None


def _holds_stored_images(col: pd.Series) -> bool:
    first = col.dropna().head(1)
    return bool(len(first)) and isinstance(first.iloc[0], dict) and "bytes" in first.iloc[0]


def _image_sources(col: pd.Series, root: Path) -> list:
    """Each row's image: its encoded bytes (a stored image), else its file path joined to root."""
    out = []
    for cell in col.to_numpy(dtype=object):
        if isinstance(cell, dict):
            if cell.get("bytes"):
                out.append(bytes(cell["bytes"]))
                continue
            cell = cell.get("path") or ""
        p = str(cell)
        out.append(p if Path(p).is_absolute() else str(root / p))
    return out


def _weights(df: pd.DataFrame, cfg: DataConfig, manifest: Path) -> np.ndarray | None:
    """--weight-col as float32 (N,), checked: finite, >= 0, not all 0."""
    if not cfg.weight_col:
        return None
    w = pd.to_numeric(df[cfg.weight_col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        r = int(df["row"].iloc[int(np.flatnonzero(bad)[0])])
        raise DataError(f"manifest {manifest}, row {r}: weight column {cfg.weight_col!r} must "
                        "be a finite number >= 0; fix the value or drop --weight-col")
    if not (w > 0).any():
        raise DataError(f"manifest {manifest}: weight column {cfg.weight_col!r} is 0 on every "
                        "row, so no model can learn from it; give the rows to learn from a "
                        "weight > 0 or drop --weight-col")
    return w.astype(np.float32)


def _groups(df: pd.DataFrame, cfg: DataConfig, manifest: Path) -> np.ndarray | None:
    """--group-col as str (N,), every row in a group."""
    if not cfg.group_col:
        return None
    g = df[cfg.group_col]
    if g.isna().any():
        r = int(df["row"].iloc[int(np.flatnonzero(g.isna().to_numpy())[0])])
        raise DataError(f"manifest {manifest}, row {r}: group column {cfg.group_col!r} is "
                        "empty; give every row a group")
    return g.astype(str).to_numpy()


def _load_embeddings(path: str, n_rows: int, rows: np.ndarray) -> np.ndarray:
    """float32 (len(rows), D): the embeddings file's rows `rows` (it has one per manifest row)."""
    p = check_input_file(path, "embeddings file", DataError)
    try:
        E = np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"embeddings file {p} is not a readable .npy ({type(e).__name__}); "
                        "save it with numpy.save") from None
    if E.ndim != 2 or E.shape[0] != n_rows:
        raise DataError(f"embeddings file {p} has shape {E.shape}; expected ({n_rows}, D), one row "
                        "per manifest row")
    E = np.asarray(E[rows] if len(rows) < n_rows else E, dtype=np.float32)
    bad = ~np.isfinite(E)
    if bad.any():
        r, j = map(int, np.argwhere(bad)[0])
        raise DataError(f"embeddings file {p}, row {int(rows[r])}, column {j}: value is NaN or infinite; "
                        "fix the embeddings before training")
    return E
