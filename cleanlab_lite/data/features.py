"""Tabular features: which columns are features, and the matrix the models take.

A column is numeric when most of its cells are numbers; a text (or true/false) column is
categorical when it has at most MAX_LEVELS distinct values and each value appears on about two
rows or more; any other text column is free text, left out with a note (naming it in
--feature-cols makes it categorical on its MAX_LEVELS most frequent values). In the matrix
(float32 (N, D)), a categorical column holds its level's code 0..L-1, and -1 where the cell is
empty or a level training never saw.

The models read the codes their own way (`feature_levels` tells them which columns are codes):
HistGradientBoosting as native categorical features (negative codes count as missing), the
linear, neighbour and torch models through a one-hot expansion (`ScaleAndOneHot`, `one_hot`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cleanlab_lite.config import LABEL_COLUMNS, DataConfig
from cleanlab_lite.errors import ColumnError, DataError

MAX_LEVELS = 50        # distinct values a text column may have to be a categorical feature
MIN_PER_LEVEL = 2      # rows per distinct value, on average, for a text column to be categorical


@dataclass
class FeatureSpec:
    """The feature columns in matrix order, the levels of the categorical ones, and the text
    columns left out (column -> why)."""
    columns: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)

    def levels(self) -> tuple[int, ...] | None:
        """Per column: 0 for numeric, else the number of levels; None when all are numeric."""
        if not self.categories:
            return None
        return tuple(len(self.categories.get(c, ())) for c in self.columns)


def rows_text(rows) -> str:
    """'row 3' / 'rows 3, 8, 9 and 12 more' for error messages."""
    rows = [int(r) for r in rows]
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows[:5])) + more


def as_numbers(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(column as numbers, mask of non-empty cells that are not numbers)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col, np.zeros(len(col), dtype=bool)
    num = pd.to_numeric(col, errors="coerce")
    return num, (num.isna() & col.notna()).to_numpy()


def _is_mostly_numeric(col: pd.Series) -> bool:
    """A column whose non-empty cells are numbers, but for a minority (stray text)."""
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    num, bad = as_numbers(col)
    return bool(num.notna().sum() > bad.sum())


def _text(col: pd.Series) -> pd.Series:
    """Cells as text, empty ones (missing or blank) as NaN."""
    s = col.astype("string")
    return s.where(s.str.strip() != "", pd.NA)


def _levels(col: pd.Series, cap: int | None) -> list[str]:
    """Distinct values, most frequent first (ties by value), at most `cap`."""
    counts = _text(col).value_counts(dropna=True)
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [k for k, _ in order[:cap]]


def choose_features(df: pd.DataFrame, cfg: DataConfig, manifest) -> FeatureSpec:
    """The feature columns: --feature-cols, else every column but the label, id, group, weight,
    `row` and known label-like ones; text columns become categorical or are left out."""
    skip = {cfg.label_col, cfg.id_col, cfg.group_col, cfg.weight_col, "row", *LABEL_COLUMNS}
    named = list(cfg.feature_cols) if cfg.feature_cols else None
    spec = FeatureSpec(columns=[])
    for c in named or [c for c in df.columns if c not in skip]:
        if c not in df.columns:
            cols = ", ".join(map(str, df.columns[:20]))
            raise ColumnError(f"manifest {manifest} has no column {c!r} (--feature-cols); "
                              f"its columns are: {cols}")
        if _is_mostly_numeric(df[c]):
            spec.columns.append(c)
            continue
        n_levels = int(_text(df[c]).nunique(dropna=True))
        if named is None and (n_levels > MAX_LEVELS or n_levels * MIN_PER_LEVEL > len(df)):
            spec.left_out[c] = f"free text, {n_levels} distinct values"
            continue
        spec.columns.append(c)
        spec.categories[c] = _levels(df[c], MAX_LEVELS)
    if not spec.columns:
        raise ColumnError(f"manifest {manifest} has no {cfg.path_col!r} column and no feature "
                          "columns; pass --path-col for images, --feature-cols for tabular data, "
                          "or --embeddings E.npy")
    return spec


def codes(col: pd.Series, levels: list[str]) -> np.ndarray:
    """float32 codes of `col` in `levels` (-1: empty cell or a level not in `levels`)."""
    text = _text(col).astype(object).where(lambda t: t.notna(), None)
    return pd.Index(levels, dtype=object).get_indexer(text).astype(np.float32)


def feature_matrix(df: pd.DataFrame, spec: FeatureSpec, manifest, skip_bad: bool = False,
                   allow_nan: bool = False):
    """(X float32 (N', D), kept positions, skipped (row, '', reason)) for `spec`'s columns.

    A numeric column's cell that is not a number is an error naming its rows, or with skip_bad
    its row is left out (and listed in skipped)."""
    parts, bad_any, skipped = {}, np.zeros(len(df), dtype=bool), []
    for c in spec.columns:
        if c in spec.categories:
            parts[c] = codes(df[c], spec.categories[c])
            continue
        num, bad = as_numbers(df[c])
        if bad.any():
            rows = df["row"].to_numpy()[bad]
            first = df[c].to_numpy()[bad][0]
            if not skip_bad:
                verb = "holds" if len(rows) == 1 else "hold"
                raise DataError(f"manifest {manifest}, column {c!r}: {rows_text(rows)} {verb} text "
                                f"that is not a number (e.g. {first!r}); fix the cells, leave "
                                "the column out of --feature-cols, or pass --skip-bad to drop "
                                "those rows")
            skipped += [(int(r), "", f"column {c!r}: {v!r} is not a number")
                        for r, v in zip(rows, df[c].to_numpy()[bad])]
        parts[c] = num
        bad_any |= bad
    kept = np.flatnonzero(~bad_any)
    X = pd.DataFrame(parts).to_numpy(dtype=np.float64)
    if bad_any.any():
        X = X[kept]
    _check_float32(X, df, kept, spec.columns, manifest)
    X = X.astype(np.float32)
    _check_finite(X, df, kept, spec.columns, manifest, allow_nan)
    return X, kept, sorted(skipped)


def _check_float32(X, df, kept, cols, manifest) -> None:
    """A finite value beyond float32's range would become inf when the models read it."""
    huge = np.isfinite(X) & (np.abs(X) > np.finfo(np.float32).max)
    if huge.any():
        r, j = map(int, np.argwhere(huge)[0])
        raise DataError(f"manifest {manifest}, row {int(df['row'].iloc[kept[r]])}: feature "
                        f"{cols[j]!r} is {X[r, j]:g}, beyond the float32 range models train in "
                        "(about 3.4e38); rescale the column (e.g. a log) or leave it out of "
                        "--feature-cols")


def _check_finite(X, df, kept, cols, manifest, allow_nan: bool) -> None:
    nonfinite = np.isinf(X) if allow_nan else ~np.isfinite(X)
    if nonfinite.any():
        r, j = map(int, np.argwhere(nonfinite)[0])
        fix = ", or use --model hgb, which handles missing values" if np.isnan(X[r, j]) else ""
        raise DataError(f"manifest {manifest}, row {int(df['row'].iloc[kept[r]])}: feature "
                        f"{cols[j]!r} is {X[r, j]} (NaN or infinite); fill or drop such rows "
                        f"before training{fix}")


def spec_record(spec: FeatureSpec) -> dict:
    """The spec as config.yaml keeps it (data: features, categories, left_out)."""
    return {"features": list(spec.columns), "categories": dict(spec.categories),
            "left_out": dict(spec.left_out)}


def spec_from_record(data: dict) -> FeatureSpec | None:
    """The spec a run recorded in config.yaml's data section, or None (an older run)."""
    if not data.get("features"):
        return None
    return FeatureSpec(columns=list(data["features"]),
                       categories={k: list(v) for k, v in (data.get("categories") or {}).items()},
                       left_out=dict(data.get("left_out") or {}))


# ---- what the models take -----------------------------------------------------------------------

def feature_levels(ds) -> tuple[int, ...] | None:
    """Per column of ds.X: 0 numeric, else its number of levels (codes); None if all numeric."""
    levels = getattr(ds, "levels", None)
    return tuple(levels) if levels and any(levels) else None


def one_hot(X: np.ndarray, levels: tuple[int, ...] | None) -> np.ndarray:
    """X with each code column replaced by its one-hot columns (all zero for code -1)."""
    if not levels or not any(levels):
        return X
    X = np.asarray(X, dtype=np.float32)
    out = []
    for j, n in enumerate(levels):
        if n == 0:
            out.append(X[:, j:j + 1])
            continue
        c = X[:, j].astype(np.int64)
        hot = np.zeros((X.shape[0], n), dtype=np.float32)
        ok = (c >= 0) & (c < n)
        hot[np.flatnonzero(ok), c[ok]] = 1.0
        out.append(hot)
    return np.concatenate(out, axis=1)


class ScaleAndOneHot:
    """scikit-learn transformer: standardises the numeric columns and one-hot encodes the code
    columns (`levels` as from `feature_levels`); fit takes sample_weight like StandardScaler."""

    def __init__(self, levels: tuple[int, ...]):
        self.levels = tuple(levels)

    def fit(self, X, y=None, sample_weight=None):
        from sklearn.preprocessing import StandardScaler

        self.numeric_ = np.array([n == 0 for n in self.levels])
        self.scaler_ = None
        if self.numeric_.any():
            self.scaler_ = StandardScaler().fit(np.asarray(X)[:, self.numeric_],
                                                sample_weight=sample_weight)
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        scaled = X.copy()
        if self.scaler_ is not None:
            scaled[:, self.numeric_] = self.scaler_.transform(X[:, self.numeric_])
        return one_hot(scaled, self.levels)

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, y, sample_weight).transform(X)

    def get_params(self, deep=True):
        return {"levels": self.levels}

    def set_params(self, **params):
        self.levels = tuple(params.get("levels", self.levels))
        return self


def scaler(levels: tuple[int, ...] | None):
    """The scaling step of the linear and neighbour models: StandardScaler on numeric features,
    ScaleAndOneHot when some columns are category codes."""
    if levels:
        return ScaleAndOneHot(levels)
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()
