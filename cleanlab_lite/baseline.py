"""The reviewed rows `check` takes into account (`check --baseline FILE`).

A baseline is a CSV of accepted rows. It matches rows by `id` when both the baseline and the
ranking have an `id` column, otherwise by (`row`, `given_label`), so a row whose label changed
since it was accepted counts again. A decisions file written by `clean-labels review` (it has a
`decision` column) is a baseline too, matched with the row's given label: a row decided `keep` is
accepted; a row decided `relabel` or `drop` is a confirmed error, counted whether flagged or not,
until the manifest changes (a relabeled row that now carries its new label is accepted). The
output counts new (unreviewed) flags and confirmed errors apart.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.errors import UserInputError
from cleanlab_lite.io import atomic_path, int_column


class BaselineError(UserInputError):
    """The baseline file is missing or lacks the columns that identify rows."""


def read_baseline(path: str | os.PathLike) -> pd.DataFrame:
    """An accepted-rows CSV: an `id` column, or `row` and `given_label` columns (or all three)."""
    from cleanlab_lite.io import check_input_file

    path = Path(path)
    if not path.exists():
        raise BaselineError(f"baseline file {path} not found; create one with "
                            f"`clean-labels check RUN --write-baseline {path}`")
    check_input_file(path, "baseline file", BaselineError)    # a folder or a FIFO: refused
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError):
        raise BaselineError(f"baseline file {path} is not a readable CSV; "
                            f"rewrite it with --write-baseline") from None
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=["row", "given_label"])
    if "decision" in df.columns:
        return _decisions_baseline(path)
    has_id = "id" in df.columns
    has_row = {"row", "given_label"} <= set(df.columns)
    if not (has_id or has_row):
        raise BaselineError(f"baseline file {path} has columns {', '.join(df.columns) or '(none)'}; "
                            f"it needs an `id` column or both `row` and `given_label` columns")
    if has_row:
        df["row"] = int_column(df, "row", f"baseline file {path}", BaselineError,
                                "it must be an integer row number")
    return df


def _decisions_baseline(path: Path) -> pd.DataFrame:
    """A decisions file (from `clean-labels review`) as a baseline, one line per (row, label)
    with a `status`: `accepted` for keep (with its given label) and for relabel with its new
    label (a run retrained on the exported manifest does not count it again); `confirmed` for
    relabel and drop with the label the reviewer saw (an error until the manifest changes)."""
    from cleanlab_lite.decisions import read_decisions

    d = read_decisions(path)
    rel = d[d["decision"] == "relabel"]
    status = np.where(d["decision"] == "keep", "accepted", "confirmed")
    out = pd.concat([d.assign(status=status), rel.assign(given_label=rel["label"], status="accepted")],
                    ignore_index=True)
    out.attrs["reviewed"] = True
    return out


def _pairs_isin(ranking: pd.DataFrame, baseline: pd.DataFrame, key: str) -> np.ndarray:
    """Rows of `ranking` whose (key, given_label) pair is in `baseline`."""
    def pairs(df):
        k = df[key].to_numpy(np.int64) if key == "row" else df[key].astype(str).to_numpy()
        return pd.MultiIndex.from_arrays([k, df["given_label"].astype(str).to_numpy()])
    return pairs(ranking).isin(pairs(baseline))


def baseline_mask(ranking: pd.DataFrame, baseline: pd.DataFrame | None,
                  status: str = "accepted") -> tuple[np.ndarray, str]:
    """(accepted (N,) bool, how rows were matched: 'id' | 'id+given_label' | 'row+given_label' |
    'none'). A decisions file always matches the given label too: a row whose label changed
    after it was reviewed counts again. status='confirmed': the rows a decisions file confirms
    as errors instead (none for a plain baseline)."""
    n = len(ranking)
    if baseline is None:
        return np.zeros(n, dtype=bool), "none"
    reviewed = baseline.attrs.get("reviewed", False)
    if reviewed:
        baseline = baseline[baseline["status"] == status]
    elif status != "accepted":
        return np.zeros(n, dtype=bool), "none"
    has_ids = "id" in baseline.columns and (not reviewed or (baseline["id"] != "").all())
    if has_ids and "id" in ranking.columns:
        if reviewed:
            return _pairs_isin(ranking, baseline, "id"), "id+given_label"
        keys = set(baseline["id"].astype(str))
        return ranking["id"].astype(str).isin(keys).to_numpy(), "id"
    if {"row", "given_label"} <= set(baseline.columns):
        return _pairs_isin(ranking, baseline, "row"), "row+given_label"
    raise BaselineError("the baseline matches rows by `id` but ranking.csv has no id column; "
                        "add `row` and `given_label` columns to the baseline or rerun train with "
                        "--id-col")


def write_baseline(path: str | os.PathLike, ranking: pd.DataFrame) -> int:
    """Write every currently flagged row as accepted; returns how many rows were written."""
    cols = [c for c in ("id", "row", "given_label", "suggested_label", "label_quality")
            if c in ranking.columns]
    flagged = ranking.loc[ranking["is_label_issue"], cols]
    with atomic_path(path) as tmp:
        flagged.to_csv(tmp, index=False)
    return int(len(flagged))
