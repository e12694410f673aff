"""The one label encoder: manifest label values <-> class indices and class values.

Labels are kept as the values they are in the file: '01', '1' and '1.0' are three classes. A
class value is a Python int only when every label is a plain integer ('0', '7', '-3', or an
integer column; a float column whose values are all whole numbers counts, as Parquet and JSONL
store an integer column with missing cells as floats); otherwise every class value is the label's
text. Classes are sorted: integers numerically, text as strings. A label cell that is empty
(missing, or only spaces) marks an unlabeled row, which is not a class.

    codes, classes = encode_labels(series, where="manifest m.csv column 'label'")
    codes = codes_for(other_series, classes, where=..., fix="retrain ...")
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cleanlab_lite.errors import LabelsError

PLAIN_INT = re.compile(r"0|-?[1-9][0-9]*")


def unlabeled_mask(values) -> np.ndarray:
    """bool (N,): cells with no label (missing, or text that is empty or only spaces)."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    missing = s.isna().to_numpy()
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        text = s.astype(object).where(~missing, "").astype(str).str.strip()
        missing = missing | (text == "").to_numpy()
    return missing


def label_keys(values) -> np.ndarray:
    """Each label as the text that names its class (object array of str): text as it is,
    integers and whole floats in decimal ('3'), other floats as Python prints them ('2.5')."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(str).to_numpy(dtype=object)
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype(np.int64).astype(str).to_numpy(dtype=object)
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(dtype=np.float64)
        whole = np.isfinite(v) & (v == np.round(v))
        if whole.all():
            return v.astype(np.int64).astype(str).astype(object)
        return np.array([str(int(x)) if w else repr(float(x)) for x, w in zip(v, whole)], dtype=object)
    return np.array([_key(v) for v in s.to_numpy(dtype=object)], dtype=object)


def _key(v) -> str:
    """One label value (from an object column) as its class text."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _all_plain_ints(keys: np.ndarray) -> bool:
    return all(PLAIN_INT.fullmatch(k) is not None for k in keys)


def encode_labels(values, *, where: str) -> tuple[np.ndarray, list]:
    """(codes int64 (N,), class values in index order) for labelled rows.

    An empty cell is a LabelsError naming its row in `where`; leave unlabeled rows out first
    (`unlabeled_mask`)."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    missing = unlabeled_mask(s)
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        raise LabelsError(f"{where}, row {r}: the label is empty; fill it, or leave the row "
                          "unlabeled for train to leave out")
    if pd.api.types.is_bool_dtype(s.dtype):
        classes, codes = np.unique(s.to_numpy(dtype=bool), return_inverse=True)
        return codes.astype(np.int64).reshape(-1), [bool(c) for c in classes]
    keys = label_keys(s)
    uniq = np.unique(keys.astype(str))
    if _all_plain_ints(uniq):
        ints = np.array([int(u) for u in uniq], dtype=object)
        order = np.argsort(np.array([int(u) for u in uniq], dtype=np.float64), kind="stable")
        names = uniq[order]
        classes = [int(v) for v in ints[order]]
    else:
        names, classes = uniq, [str(u) for u in uniq]
    index = {str(n): i for i, n in enumerate(names)}
    return _lookup(keys, index), classes


def _lookup(keys: np.ndarray, index: dict) -> np.ndarray:
    uniq, inv = np.unique(keys.astype(str), return_inverse=True)
    return np.array([index[u] for u in uniq], dtype=np.int64)[inv.reshape(-1)]


def codes_for(values, classes: list, *, where: str, fix: str, rows=None) -> np.ndarray:
    """Indices into `classes` (a run's class values) of label `values`, matched by their text
    (3, 3.0 and '3' are class 3; '03' is not). A value that is not a class is a LabelsError
    naming its row (`rows`: the row number of each value; default its position) and value,
    ending with `fix`; an empty cell is one too."""
    rows = np.arange(len(values)) if rows is None else np.asarray(rows)
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    missing = unlabeled_mask(s)
    if missing.any():
        r = int(rows[np.flatnonzero(missing)[0]])
        raise LabelsError(f"{where}, row {r}: the label is empty; every row here needs a label")
    keys = label_keys(s).astype(str)
    index = {_key(c): i for i, c in enumerate(classes)}
    uniq = np.unique(keys)
    unknown = [u for u in uniq if u not in index]
    if unknown:
        r = int(rows[np.flatnonzero(keys == unknown[0])[0]])
        shown = ", ".join(map(str, classes[:10])) + (", ..." if len(classes) > 10 else "")
        raise LabelsError(f"{where}, row {r}: label {str(unknown[0])!r} is not one of the "
                          f"{len(classes)} classes ({shown}); {fix}")
    return _lookup(keys, index)


def like_column(class_values: list, column: pd.Series) -> list:
    """Class values as cells of `column`: text in a text column, numbers in a numeric one."""
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        return [_key(v) for v in class_values]
    if pd.api.types.is_bool_dtype(column.dtype):
        return [bool(v) for v in class_values]
    return list(pd.Series(class_values).astype(column.dtype))
