"""Reviewed decisions (RUN/decisions.csv, or a spreadsheet in its format): the file's format,
read and written here, and decisions matched to a run's rows. `review` writes them; `export
--decisions`, `check --baseline` and the sampled estimate (cleanlab_lite.precision) read them.
The Run object names the file (Run.decisions_path)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.errors import DecisionsError
from cleanlab_lite.io import atomic_path

# the columns of a decisions file
DECISION_VALUES = ("keep", "relabel", "drop")
DECISION_COLUMNS = ("row", "id", "given_label", "decision", "label", "time", "sampled")


def read_decisions(path: str | os.PathLike):
    """A decisions CSV (RUN/decisions.csv from `review`, or one made in a spreadsheet) as a
    DataFrame: row (int64, when the file has it), id, given_label, decision, label, time,
    sampled ("true" for a row of `review --sample`'s random sample) (strings) and line (its line in the file). Lines whose decision is empty or `skip` are left
    out; anything else that is not keep | relabel | drop is a DecisionsError naming the line."""
    from cleanlab_lite.io import check_input_file

    path = Path(path)
    if not path.exists():
        raise DecisionsError(f"decisions file {path} not found; write it with `clean-labels review "
                             "RUN` or as a CSV with columns row, given_label, decision, label")
    check_input_file(path, "decisions file", DecisionsError)  # a folder or a FIFO: refused
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=["row", "given_label", "decision", "label"])
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DecisionsError(f"decisions file {path} is not a readable CSV ({type(e).__name__}); "
                             "save it as UTF-8 CSV") from None
    if not ({"given_label", "decision"} <= set(df.columns) and {"row", "id"} & set(df.columns)):
        raise DecisionsError(f"decisions file {path} has columns {', '.join(df.columns) or '(none)'}; "
                             "it needs given_label, decision and row (or id) columns")
    for col in ("label", "time", "sampled"):
        if col not in df.columns:
            df[col] = ""
    df["line"] = np.arange(2, len(df) + 2)
    df["decision"] = df["decision"].str.strip().str.lower()
    df = df[~df["decision"].isin(["", "skip"])].copy()
    bad = ~df["decision"].isin(DECISION_VALUES)
    if bad.any():
        r = df[bad].iloc[0]
        raise DecisionsError(f"decisions file {path} line {r['line']}: decision {r['decision']!r} "
                             "is not keep, relabel, drop or skip; fix that cell")
    empty = (df["decision"] == "relabel") & (df["label"].str.strip() == "")
    if empty.any():
        raise DecisionsError(f"decisions file {path} line {df[empty].iloc[0]['line']}: relabel needs "
                             "the new class in column label; fill it in or choose keep or drop")
    key = "row" if "row" in df.columns else "id"
    if key == "row":
        rows = pd.to_numeric(df["row"], errors="coerce")
        nonint = rows.isna() | (rows != rows.round())
        if nonint.any():
            r = df[nonint].iloc[0]
            raise DecisionsError(f"decisions file {path} line {r['line']}: row {r['row']!r} is not "
                                 "a row number; use the row column of ranking.csv")
        df["row"] = rows.astype(np.int64)
    dup = df[key].duplicated(keep=False)
    if dup.any():
        first = df.loc[dup, key].iloc[0]
        lines = df.loc[dup & (df[key] == first), "line"].tolist()
        raise DecisionsError(f"decisions file {path}: {key} {first} has decisions on lines "
                             f"{', '.join(map(str, lines))}; keep one of them")
    return df.reset_index(drop=True)


def write_decisions(path: str | os.PathLike, decisions, *, with_id: bool) -> None:
    """Write decisions (a DataFrame with DECISION_COLUMNS) sorted by row, atomically; the id
    column only `with_id`, the sampled column only when some decision is on a sampled row."""
    sampled = "sampled" in decisions.columns and (decisions["sampled"].fillna("") != "").any()
    cols = [c for c in DECISION_COLUMNS if (with_id or c != "id") and (sampled or c != "sampled")]
    out = decisions.reindex(columns=cols).astype(object).fillna("").sort_values("row", kind="stable")
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False)



@dataclass
class MatchedDecisions:
    """Decisions matched to a run's current rows."""
    applied: pd.DataFrame   # row, given_label, decision, label (a relabel to the given label is a keep)
    stale: pd.DataFrame     # row, id?, given_label (the decision's), current_label: not applied


def match_decisions(decisions: pd.DataFrame, ranking: pd.DataFrame, classes: list[str],
                    source: str) -> MatchedDecisions:
    """Match decisions (read_decisions) to ranking.csv rows. A row the run lacks or a label that
    is not a class is an error naming the line; a decision whose given_label differs from the
    row's label now (the label changed since the decision) is stale and not applied."""
    ranked = ranking.set_index("row", drop=False)
    if "row" in decisions.columns:
        unknown = ~decisions["row"].isin(ranked.index)
        what = "row"
    else:
        if "id" not in ranking.columns:
            raise DecisionsError(f"decisions file {source} names rows by id but this run has no id "
                                 "column; add a row column (from ranking.csv)")
        unknown = ~decisions["id"].isin(ranking["id"])
        what = "id"
    if unknown.any():
        r = decisions[unknown].iloc[0]
        raise DecisionsError(f"decisions file {source} line {r['line']}: {what} {r[what]} is not a "
                             f"row of this run ({len(ranking)} ranked rows); fix or delete that line")
    if what == "id":
        decisions = decisions.assign(row=decisions["id"].map(
            pd.Series(ranking["row"].to_numpy(), index=ranking["id"])).astype(np.int64))
    known = set(classes)
    bad = (decisions["decision"] == "relabel") & ~decisions["label"].isin(known)
    if bad.any():
        r = decisions[bad].iloc[0]
        raise DecisionsError(f"decisions file {source} line {r['line']}: label {r['label']!r} is not "
                             f"a class of this run; use one of {_class_list(classes)}")
    current = ranked.loc[decisions["row"].to_numpy(), "given_label"].astype(str).to_numpy()
    moved = decisions["given_label"].to_numpy() != current
    if "id" in decisions.columns and "id" in ranking.columns and what == "row":
        ids = ranked.loc[decisions["row"].to_numpy(), "id"].astype(str).to_numpy()
        moved |= (decisions["id"].to_numpy() != "") & (decisions["id"].to_numpy() != ids)
    stale = decisions[moved].assign(current_label=current[moved])
    applied = decisions[~moved].copy()
    same = (applied["decision"] == "relabel") & (applied["label"] == applied["given_label"])
    applied.loc[same, ["decision", "label"]] = ["keep", ""]
    return MatchedDecisions(applied=applied.reset_index(drop=True), stale=stale.reset_index(drop=True))


def _class_list(classes: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in classes[:limit])
    return shown + (f", ... ({len(classes)} classes)" if len(classes) > limit else "")


def stale_note(stale: pd.DataFrame, source: str, limit: int = 10) -> str:
    """One line listing decisions not applied because the row's label changed."""
    parts = [f"row {r['row']} (decided on {r['given_label']!r}, now {r['current_label']!r})"
             for r in stale.head(limit).to_dict("records")]
    more = f" and {len(stale) - limit} more" if len(stale) > limit else ""
    return (f"{len(stale)} decision(s) in {source} not applied because the row's label changed "
            f"since: {'; '.join(parts)}{more}")
