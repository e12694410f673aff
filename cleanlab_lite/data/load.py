"""Turn a manifest into a validated Dataset: columns, labels, class map, features or images."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.config import LABEL_COLUMNS, DataConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.data.manifest import read_manifest
from cleanlab_lite.errors import ColumnError, DataError, ImageError
from cleanlab_lite.io import check_input_file

RESERVED = ("row", "fold")


@dataclass
class Loaded:
    """A Dataset plus what the run folder records about where it came from."""
    dataset: Dataset
    table: pd.DataFrame            # kept manifest rows, with `row` (position in the manifest)
    class_values: list             # class labels as they appear in the manifest, index order
    skipped: list = field(default_factory=list)  # (row, path, reason) left out by --skip-bad
    image_size: int | None = None
    cache_path: str | None = None
    cache_reused: bool = False


def _require(df: pd.DataFrame, manifest, col: str | None, flag: str) -> None:
    if col is not None and col not in df.columns:
        cols = ", ".join(map(str, df.columns[:20]))
        raise ColumnError(f"manifest {manifest} has no column {col!r} ({flag}); "
                          f"its columns are: {cols}")


def encode_labels(values: pd.Series, manifest, col: str) -> tuple[np.ndarray, list]:
    """Labels (strings or integers) -> int64 indices and the sorted class values."""
    missing = values.isna().to_numpy()
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        raise DataError(f"manifest {manifest}, row {r}: column {col!r} (--label-col) is empty; "
                        "every row needs a label")
    if pd.api.types.is_float_dtype(values):
        v = values.to_numpy()
        if np.all(v == np.round(v)):
            values = values.astype(np.int64)
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        classes, codes = np.unique(values.to_numpy(), return_inverse=True)
        return codes.astype(np.int64), [c.item() for c in classes]
    as_str = values.astype(str)
    classes, codes = np.unique(as_str.to_numpy(), return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in classes]


def _rows_text(rows) -> str:
    rows = [int(r) for r in rows]
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows[:5])) + more


def _as_numbers(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(column as numbers, mask of non-empty cells that are not numbers)."""
    if pd.api.types.is_numeric_dtype(col):
        return col, np.zeros(len(col), dtype=bool)
    num = pd.to_numeric(col, errors="coerce")
    return num, (num.isna() & col.notna()).to_numpy()


def _is_mostly_numeric(col: pd.Series) -> bool:
    """A column whose non-empty cells are numbers, but for a minority (stray text)."""
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    num, bad = _as_numbers(col)
    return bool(num.notna().sum() > bad.sum())


def _features(df: pd.DataFrame, cols: list[str], manifest, skip_bad: bool, allow_nan: bool = False):
    """(X float32 (N', D), kept positions, skipped (row, '', reason)) for feature columns `cols`.

    A cell that is not a number is an error naming its rows, or with skip_bad its row is left
    out (and listed in skipped)."""
    numbers, bad_any = {}, np.zeros(len(df), dtype=bool)
    skipped = []
    for c in cols:
        num, bad = _as_numbers(df[c])
        if bad.all():
            raise ColumnError(f"manifest {manifest}: feature column {c!r} is not numeric "
                              f"(dtype {df[c].dtype}); encode it as numbers or leave it out "
                              "of --feature-cols")
        if bad.any():
            rows = df["row"].to_numpy()[bad]
            first = df[c].to_numpy()[bad][0]
            if not skip_bad:
                verb = "holds" if len(rows) == 1 else "hold"
                raise DataError(f"manifest {manifest}, column {c!r}: {_rows_text(rows)} {verb} text "
                                f"that is not a number (e.g. {first!r}); fix the cells, leave "
                                "the column out of --feature-cols, or pass --skip-bad to drop "
                                "those rows")
            skipped += [(int(r), "", f"column {c!r}: {v!r} is not a number")
                        for r, v in zip(rows, df[c].to_numpy()[bad])]
        numbers[c] = num
        bad_any |= bad
    kept = np.flatnonzero(~bad_any)
    X = pd.DataFrame(numbers).to_numpy(dtype=np.float64)
    huge = np.isfinite(X) & (np.abs(X) > np.finfo(np.float32).max)
    huge &= ~bad_any[:, None]
    if huge.any():
        r, j = map(int, np.argwhere(huge)[0])
        raise DataError(f"manifest {manifest}, row {int(df['row'].iloc[r])}: feature {cols[j]!r} "
                        f"is {X[r, j]:g}, beyond the float32 range models train in (about "
                        "3.4e38); rescale the column (e.g. a log) or leave it out of --feature-cols")
    X = X.astype(np.float32)
    if bad_any.any():
        X = X[kept]
    nonfinite = np.isinf(X) if allow_nan else ~np.isfinite(X)
    if nonfinite.any():
        r, j = map(int, np.argwhere(nonfinite)[0])
        fix = ", or use --model hgb, which handles missing values" if np.isnan(X[r, j]) else ""
        raise DataError(f"manifest {manifest}, row {int(df['row'].iloc[kept[r]])}: feature "
                        f"{cols[j]!r} is {X[r, j]} (NaN or infinite); fill or drop such rows "
                        f"before training{fix}")
    return X, kept, sorted(skipped)


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
        raise DataError(f"{where}: id {first!r} (column {col!r}, --id-col) is on {_rows_text(rows)}; "
                        "ids must be unique: fix them or drop --id-col")


def _outside_root(paths: list[str], root: Path) -> int | None:
    """Position of the first path that resolves (symlinks included) outside `root`, or None."""
    top = os.path.realpath(root)
    prefix = top.rstrip(os.sep) + os.sep
    real_dirs: dict[str, str] = {}
    for i, p in enumerate(paths):
        d, name = os.path.split(os.path.normpath(p))
        if d not in real_dirs:
            real_dirs[d] = os.path.realpath(d)
        real = os.path.join(real_dirs[d], name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not real.startswith(prefix):
            return i
    return None


def feature_columns(df: pd.DataFrame, cfg: DataConfig, manifest) -> list[str]:
    """Tabular feature columns: --feature-cols, else every mostly numeric column except the
    label, id, group, weight, `row` and known label-like columns."""
    if cfg.feature_cols:
        for c in cfg.feature_cols:
            _require(df, manifest, c, "--feature-cols")
        return list(cfg.feature_cols)
    skip = {cfg.label_col, cfg.id_col, cfg.group_col, cfg.weight_col, "row", *LABEL_COLUMNS}
    cols = [c for c in df.columns if c not in skip and _is_mostly_numeric(df[c])]
    if not cols:
        raise ColumnError(f"manifest {manifest} has no {cfg.path_col!r} column and no numeric "
                          "feature columns; pass --path-col for images, --feature-cols for "
                          "tabular data, or --embeddings E.npy")
    return cols


@dataclass
class Table:
    """A manifest read and validated, before any image is decoded or feature parsed: its rows
    (with `row`), the data kind, and labels, weights and groups over every row."""
    df: pd.DataFrame
    kind: str
    labels: np.ndarray
    class_values: list
    weights: np.ndarray | None
    groups: np.ndarray | None
    image_paths: list[str] | None      # image runs: each row's image file


def read_table(manifest: str | Path, cfg: DataConfig, df: pd.DataFrame | None = None) -> Table:
    """Read `manifest` (or take `df`) and validate columns, ids, labels, weights, groups and image
    paths, so bad input is refused before the slow steps (image decoding) write anything."""
    manifest = Path(manifest)
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
    kind = "embedding" if cfg.embeddings else ("image" if cfg.path_col in df.columns else "tabular")
    if cfg.embeddings is None and cfg.feature_cols is None and cfg.path_col not in df.columns \
            and cfg.path_col != "path":
        _require(df, manifest, cfg.path_col, "--path-col")
    labels, class_values = encode_labels(df[cfg.label_col], manifest, cfg.label_col)
    paths = _image_paths(df, manifest, cfg) if kind == "image" else None
    return Table(df, kind, labels, class_values, _weights(df, manifest, cfg, labels, class_values),
                 _groups(df, manifest, cfg), paths)


def _image_paths(df: pd.DataFrame, manifest: Path, cfg: DataConfig) -> list[str]:
    root = Path(cfg.data_root) if cfg.data_root else manifest.parent
    col = df[cfg.path_col]
    empty = col.isna().to_numpy()
    if empty.any():
        r = int(np.flatnonzero(empty)[0])
        raise DataError(f"manifest {manifest}, row {r}: column {cfg.path_col!r} (--path-col) "
                        "is empty; every row needs an image path")
    paths = [str(p if Path(p).is_absolute() else root / p) for p in col.astype(str)]
    outside = None if cfg.allow_outside_root else _outside_root(paths, root)
    if outside is not None:
        raise ImageError(f"manifest {manifest}, row {outside}: image {col.iloc[outside]!r} "
                         f"(column {cfg.path_col!r}) is outside the data root "
                         f"{os.path.realpath(root)}; fix the path, set --data-root, or pass "
                         "--allow-outside-root")
    return paths


def _weights(df: pd.DataFrame, manifest: Path, cfg: DataConfig, labels: np.ndarray,
             class_values: list) -> np.ndarray | None:
    """--weight-col as float32 (N,): finite, >= 0, and > 0 somewhere in every class (a class
    whose rows all weigh 0 is never learned, and all its rows would be flagged)."""
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
    weighed = np.bincount(labels, weights=w, minlength=len(class_values))
    zero = np.flatnonzero(weighed == 0)
    if len(zero):
        name = class_values[int(zero[0])]
        raise DataError(f"manifest {manifest}: weight column {cfg.weight_col!r} is 0 on every row "
                        f"of class {str(name)!r}, so no model can learn that class and all its "
                        "rows would be flagged; give some of its rows a weight > 0, or leave the "
                        "class out of the manifest")
    return w.astype(np.float32)


def _groups(df: pd.DataFrame, manifest: Path, cfg: DataConfig) -> np.ndarray | None:
    if not cfg.group_col:
        return None
    g = df[cfg.group_col]
    if g.isna().any():
        r = int(df["row"].iloc[int(np.flatnonzero(g.isna().to_numpy())[0])])
        raise DataError(f"manifest {manifest}, row {r}: group column {cfg.group_col!r} is "
                        "empty; give every row a group")
    return g.astype(str).to_numpy()


def load_dataset(manifest: str | Path, cfg: DataConfig, *, cache_dir: str | Path | None = None,
                 df: pd.DataFrame | None = None, allow_nan: bool = False,
                 table: Table | None = None) -> Loaded:
    """Read and validate `manifest` per `cfg` (or take `table`, from read_table); decode images
    into `cache_dir` if given. allow_nan: missing (NaN) tabular features are kept, for models
    that handle them (hgb)."""
    manifest = Path(manifest)
    t = table if table is not None else read_table(manifest, cfg, df)
    df, kind = t.df, t.kind
    skipped: list = []
    image_size = cache_path = None
    reused = False
    feature_names = None
    kept = None
    if kind == "image":
        from cleanlab_lite.data.images import decode_images

        dec = decode_images(t.image_paths, rows=df["row"].to_numpy(), path_col=cfg.path_col,
                            image_size=cfg.image_size, skip_bad=cfg.skip_bad,
                            cache_dir=cache_dir, workers=cfg.decode_workers)
        skipped = [(int(df["row"].iloc[i]), p, reason) for i, p, reason in dec.bad]
        kept = np.asarray(dec.kept)
        X = dec.X
        image_size, reused = dec.size, dec.reused
        cache_path = str(dec.cache_path) if dec.cache_path else None
    elif kind == "embedding":
        X = _load_embeddings(cfg.embeddings, len(df))
    else:
        cols = feature_columns(df, cfg, manifest)
        X, kept, skipped = _features(df, cols, manifest, cfg.skip_bad, allow_nan)
        feature_names = cols
    labels, class_values, weights, groups = t.labels, t.class_values, t.weights, t.groups
    if kept is not None and len(kept) < len(df):     # --skip-bad left rows out
        df = df.iloc[kept].reset_index(drop=True)
        labels, class_values = encode_labels(df[cfg.label_col], manifest, cfg.label_col)
        weights = None if weights is None else weights[kept]
        groups = None if groups is None else groups[kept]
    ds = Dataset(kind=kind, X=X, labels=labels, classes=[str(c) for c in class_values],
                 weights=weights, groups=groups, feature_names=feature_names)
    return Loaded(dataset=ds, table=df, class_values=class_values, skipped=skipped,
                  image_size=image_size, cache_path=cache_path, cache_reused=reused)


def _load_embeddings(path: str, n_rows: int) -> np.ndarray:
    p = check_input_file(path, "embeddings file", DataError)
    try:
        E = np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"embeddings file {p} is not a readable .npy ({type(e).__name__}); "
                        "save it with numpy.save") from None
    if E.ndim != 2 or E.shape[0] != n_rows:
        raise DataError(f"embeddings file {p} has shape {E.shape}; expected ({n_rows}, D), one row "
                        "per manifest row")
    E = np.asarray(E, dtype=np.float32)
    bad = ~np.isfinite(E)
    if bad.any():
        r, j = map(int, np.argwhere(bad)[0])
        raise DataError(f"embeddings file {p}, row {r}, column {j}: value is NaN or infinite; "
                        "fix the embeddings before training")
    return E
