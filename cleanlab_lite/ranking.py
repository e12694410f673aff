"""The ranking: one row per input row, most suspect first, written by `rank` from the same
arrays twice: `ranking.parquet`, typed, the hand-off every later stage (check, export, review,
report) reads through `Ranking`; and `ranking.csv`, the view for people and spreadsheets. No
stage parses the CSV. `run.Run` names the files; this module owns their columns.

Columns (both files): row (int, 0-based position in the manifest), id (text, when the manifest
has an id column), given_label, predicted_label, suggested_label (the class names as in
classes.json), label_quality (float in [0, 1], lower = more likely wrong), is_label_issue (bool),
suggested_confidence (float). The Parquet file also holds given_index, predicted_index and
suggested_index (int32 class indices into classes.json), so a stage maps a row back to the
manifest's own label value by index, never by parsing a name. The CSV rounds floats to 6 places.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

LABEL_COLS = ("given_label", "predicted_label", "suggested_label")
INDEX_COLS = ("given_index", "predicted_index", "suggested_index")
CSV_COLUMNS = ("row", "id", *LABEL_COLS, "label_quality", "is_label_issue", "suggested_confidence")
REQUIRED = ("row", *LABEL_COLS, *INDEX_COLS, "label_quality", "is_label_issue",
            "suggested_confidence")
CSV_BLOCK_ROWS = 200_000    # ranking.csv rows per block formatted on one thread
DECIMALS = 6                # ranking.csv float columns (short strings format 3x faster)


class Ranking(pd.DataFrame):
    """The typed ranking as a DataFrame (most suspect first): `row` int64, labels str, indices
    int32, `label_quality` and `suggested_confidence` float64, `is_label_issue` bool, `id` str
    (absent when the manifest has no id column)."""

    @property
    def _constructor(self):
        return Ranking

    def flagged(self) -> "Ranking":
        """The rows flagged as label issues, in ranking order."""
        return self[self["is_label_issue"].to_numpy(bool)]

    def records(self) -> list[dict]:
        """Rows as dicts, most suspect first (for printing)."""
        return self.to_dict(orient="records")


def build_table(order, *, rows, classes, given, predicted, suggested, quality, is_issue,
                suggested_confidence, ids=None):
    """The ranking as a pyarrow Table in `order` (most suspect first). All arrays are (N,) in
    row position order; given/predicted/suggested are class indices into `classes`; ids
    (optional) is array-like or a pyarrow array."""
    import pyarrow as pa

    o = pa.array(np.asarray(order, dtype=np.int64))
    names = pa.array([str(c) for c in classes], type=pa.string())
    cols = {"row": pa.array(np.asarray(rows, dtype=np.int64)).take(o)}
    if ids is not None:
        if not isinstance(ids, (pa.Array, pa.ChunkedArray)):
            ids = pa.array(np.asarray(ids, dtype=object))
        cols["id"] = ids.take(o).cast(pa.string())
    index = {}
    for col, idx, values in zip(LABEL_COLS, INDEX_COLS, (given, predicted, suggested)):
        index[idx] = pa.array(np.asarray(values, dtype=np.int32)).take(o)
        cols[col] = names.take(index[idx])
    cols["label_quality"] = pa.array(np.asarray(quality, dtype=np.float64)).take(o)
    cols["is_label_issue"] = pa.array(np.asarray(is_issue, dtype=bool)).take(o)
    cols["suggested_confidence"] = pa.array(
        np.asarray(suggested_confidence, dtype=np.float64)).take(o)
    cols.update(index)
    return pa.table(cols)


def write_parquet(table, path) -> str:
    """Write `table` to `path` (a temporary name the caller renames); its sha256."""
    import pyarrow.parquet as pq

    from cleanlab_lite.io import file_sha256

    pq.write_table(table, path)
    return file_sha256(path)


def write_csv(table, path) -> str:
    """The CSV view of `table` to `path`; its sha256, computed from the bytes as written. Row
    blocks are formatted on a thread pool (pyarrow releases the GIL; float formatting is the
    cost), then appended in order."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    view = table.select([c for c in CSV_COLUMNS if c in table.column_names])
    for col in ("label_quality", "suggested_confidence"):
        i = view.column_names.index(col)
        view = view.set_column(i, col, pc.round(view[col], DECIMALS))

    def block(start: int) -> bytes:
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        pacsv.write_csv(view.slice(start, CSV_BLOCK_ROWS), sink,
                        pacsv.WriteOptions(include_header=start == 0, quoting_style="needed"))
        return sink.getvalue()

    h = hashlib.sha256()
    with open(path, "wb") as f, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        for buf in ex.map(block, range(0, max(view.num_rows, 1), CSV_BLOCK_ROWS)):
            f.write(buf)
            h.update(buf)
    return h.hexdigest()


def read_parquet(path, fix: str, error: type[Exception]) -> Ranking:
    """ranking.parquet as a Ranking; `error(...)` with `fix` when it is unreadable or lacks a
    column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        df = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as e:
        raise error(f"{path} is not a readable ranking ({type(e).__name__}); {fix}") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise error(f"{path} lacks column(s) {', '.join(missing)}; {fix}")
    kinds = {"row": ("iu", np.int64), "label_quality": ("f", np.float64),
             "suggested_confidence": ("f", np.float64), "is_label_issue": ("b", bool),
             **{c: ("iu", np.int32) for c in INDEX_COLS}}
    for col, (kind, dtype) in kinds.items():
        if df[col].dtype.kind not in kind:
            raise error(f"{path} has a column of the wrong type ({col} holds {df[col].dtype}, not "
                        f"{np.dtype(dtype).name}); {fix}")
        df[col] = df[col].astype(dtype)
    for col in LABEL_COLS:
        df[col] = df[col].astype(str)
    if "id" in df.columns:
        df["id"] = df["id"].astype(str)
    return Ranking(df)

