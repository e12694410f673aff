"""Reviewed decisions (RUN/decisions.csv, or a spreadsheet in its format) matched to a run's rows.

decisions.csv itself is read and written by cleanlab_lite.run; `export --decisions`,
`check --baseline`, `review` and the sampled estimate (cleanlab_lite.precision) match it here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cleanlab_lite.errors import DecisionsError


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
