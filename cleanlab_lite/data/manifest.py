"""Manifest I/O: CSV, Parquet or JSONL in, the same format out (atomically)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cleanlab_lite.errors import ManifestError
from cleanlab_lite.io import atomic_path, check_input_file

FORMATS = {
    ".csv": "csv", ".tsv": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}
EXTENSIONS = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl"}
DELIMITERS = (",", ";", "\t", "|")


def manifest_format(path: str | Path) -> str:
    """'csv' | 'parquet' | 'jsonl' from the file extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ManifestError(f"manifest {path}: unknown extension {suffix or '(none)'!r}; "
                            "use .csv, .parquet or .jsonl")
    return FORMATS[suffix]


def read_manifest(path: str | Path, *, raw: bool = False, text_cols=()) -> pd.DataFrame:
    """Read a manifest into a DataFrame.

    raw=True keeps CSV cells as the exact strings of the file (used by export, so kept rows are
    written back unchanged); otherwise pandas infers column types. In CSV columns named in
    `text_cols` (labels, ids) only an empty cell is missing: a class or id spelled None, NA,
    null or nan stays that string.
    """
    path = Path(path)
    fmt = manifest_format(path)
    check_input_file(path, "manifest", ManifestError)
    try:
        if fmt == "csv":
            sep = csv_delimiter(path)
            if raw:
                df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
            else:
                df = _read_csv(path, sep, {c for c in text_cols if c})
        elif fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_json(path, lines=True, dtype=False if raw else True)
    except pd.errors.EmptyDataError:
        raise ManifestError(f"manifest {path} is empty; it needs a header and at least one row") from None
    except (ValueError, OSError, pd.errors.ParserError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ManifestError(f"manifest {path} cannot be read as {fmt} ({first}); "
                            f"check the file is valid {fmt}") from None
    except Exception as e:  # pyarrow errors and friends
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ManifestError(f"manifest {path} cannot be read as {fmt} ({first}); "
                            f"check the file is valid {fmt}") from None
    if len(df) == 0:
        raise ManifestError(f"manifest {path} has no rows; add at least one row per class")
    df.columns = [str(c) for c in df.columns]
    if fmt == "csv":
        df.attrs["sep"] = sep
    return df


def csv_delimiter(path: Path) -> str:
    """The delimiter of a CSV: tab for .tsv; else whichever of , ; tab | the header line holds
    most often (a comma when it holds none of them)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            header = f.readline()
    except OSError:
        return ","
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _read_csv(path: Path, sep: str, text_cols: set) -> pd.DataFrame:
    """pandas' usual parse, except that `text_cols` (labels, ids) stay the text of the file
    ('01' is not 1) and only their empty cells are missing."""
    if not text_cols:
        return pd.read_csv(path, sep=sep)
    from pandas._libs.parsers import STR_NA_VALUES

    header = pd.read_csv(path, sep=sep, nrows=0).columns
    na = {c: ([""] if c in text_cols else sorted(STR_NA_VALUES)) for c in header}
    return pd.read_csv(path, sep=sep, keep_default_na=False, na_values=na,
                       dtype={c: str for c in header if c in text_cols})


def write_manifest(df: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write `df` to `path` atomically in `fmt` (default: from the extension)."""
    path = Path(path)
    fmt = fmt or manifest_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else df.attrs.get("sep", ",")
            df.to_csv(tmp, index=False, sep=sep)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False)
        elif fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as f:
                for rec in df.to_dict(orient="records"):
                    f.write(json.dumps(rec, default=_jsonable, ensure_ascii=False) + "\n")
        else:
            raise ManifestError(f"unknown output format {fmt!r}; use csv, parquet or jsonl")
    return path


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    return str(o)
