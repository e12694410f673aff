"""What changed since a run was trained, and are the changed labels right? No retraining.

`judge_changes(RUN, CURRENT)` compares the current manifest with the rows the run was trained
on and sorts every row into unchanged, `edited` (same content, another label), `new`,
`content_changed` (an image whose pixels differ, a tabular row whose features differ) or
`removed`. Rows are matched by the run's id column when it has one, else by image path, else by
the row's feature values (repeated keys are matched in order of appearance).

Two facts make this cheap:
- a row's out-of-fold probabilities do not depend on its own label, so an edited row is judged
  with the probabilities already in RUN/pred_probs.npy;
- no fold model has seen a new row, so the mean of the k fold models (`predict.FoldEnsemble`)
  is an honest out-of-sample prediction for new and content-changed rows.

The current data set (stored probabilities for matched rows, the ensemble's for the others) is
then scored and flagged by rank's own code with the options of the run's `rank`
(summary.json): the confident thresholds and noise estimate are those of the run's rows plus the
change, so a handful of new rows is never asked for an estimate of its own. The changed rows'
result is RUN/delta/ranking.csv; nothing else in RUN is touched.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.config import RankConfig, build
from cleanlab_lite.errors import ColumnError, RunFolderError
from cleanlab_lite.run import Run

CHANGES = ("edited", "new", "content_changed", "removed")
COMPARE_ROWS = 4096            # rows of images compared per block


@dataclass
class Matching:
    """How the current rows map onto the run's rows."""
    by: str                    # "id column 'id'" | "image path column 'path'" | "feature values"
    run_pos: np.ndarray        # (n_current,) int64: position in the run's rows, -1 for a new row
    removed: np.ndarray        # run positions with no current row


def _occurrence(keys: np.ndarray) -> np.ndarray:
    """0 for a key's first appearance, 1 for its second...: repeated keys match in order."""
    return pd.Series(keys).groupby(keys, sort=False).cumcount().to_numpy()


def match_keys(run_keys: np.ndarray, current_keys: np.ndarray, by: str) -> Matching:
    run_idx = pd.MultiIndex.from_arrays([run_keys, _occurrence(run_keys)])
    cur_idx = pd.MultiIndex.from_arrays([current_keys, _occurrence(current_keys)])
    pos = run_idx.get_indexer(cur_idx).astype(np.int64)
    removed = np.setdiff1d(np.arange(len(run_keys), dtype=np.int64), pos[pos >= 0])
    return Matching(by=by, run_pos=pos, removed=removed)


def _row_hashes(X: np.ndarray) -> np.ndarray:
    """One uint64 per row of a float32 matrix (N, D), equal for equal rows."""
    return pd.util.hash_pandas_object(pd.DataFrame(np.asarray(X, dtype=np.float32)),
                                      index=False).to_numpy()


def _paths(table: pd.DataFrame, col: str) -> np.ndarray:
    return np.array([os.path.normpath(p) for p in table[col].astype(str)], dtype=object)


def match_rows(run_rows, current) -> Matching:
    """Match by the run's id column, else image path, else feature values."""
    cfg = run_rows.cfg
    if cfg.id_col:
        if cfg.id_col not in current.table.columns:
            raise ColumnError(f"the current manifest has no id column {cfg.id_col!r}; the run was "
                              f"trained with --id-col {cfg.id_col}, which matches rows across "
                              f"versions, so keep that column")
        return match_keys(run_rows.table[cfg.id_col].astype(str).to_numpy(dtype=object),
                          current.table[cfg.id_col].astype(str).to_numpy(dtype=object),
                          f"id column {cfg.id_col!r}")
    if run_rows.kind == "image":
        return match_keys(_paths(run_rows.table, cfg.path_col),
                          _paths(current.table, current.cfg.path_col),
                          f"image path column {cfg.path_col!r}")
    if run_rows.X is None:
        raise RunFolderError(f"the run's embeddings file {cfg.embeddings} is gone or changed, so "
                             f"rows cannot be matched by their values; train with --id-col")
    return match_keys(_row_hashes(run_rows.X), _row_hashes(current.X), "feature values")


def content_changed(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """(n,) bool: row i of `old` differs from row i of `new` (any value)."""
    out = np.zeros(len(new), dtype=bool)
    for s in range(0, len(new), COMPARE_ROWS):
        a = np.asarray(old[s:s + COMPARE_ROWS]).reshape(min(COMPARE_ROWS, len(new) - s), -1)
        b = np.asarray(new[s:s + COMPARE_ROWS]).reshape(a.shape[0], -1)
        out[s:s + COMPARE_ROWS] = (a != b).any(axis=1)
    return out


@dataclass
class DeltaResult:
    ranking: pd.DataFrame          # changed rows (edited/new/content_changed) then removed rows
    matched_by: str
    counts: dict                   # rows per change, plus unchanged
    n_current: int
    n_run: int
    notes: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)

    @property
    def changed(self) -> pd.DataFrame:
        """The rows the gate judges: every change but `removed`."""
        return self.ranking[self.ranking["change"] != "removed"].reset_index(drop=True)


def rank_config(run: str | Path, notes: list[str]) -> RankConfig:
    """The options the run was ranked with (summary.json), else rank's defaults."""
    folder = Run(run)
    summary = folder.read_summary()
    if not summary.get("config"):
        notes.append(f"{folder.summary_path} not found: scored with rank's default options")
        return RankConfig()
    names = set(RankConfig.__dataclass_fields__)
    return build(RankConfig, {k: v for k, v in summary["config"].items() if k in names},
                 source=str(folder.summary_path))


def judge_changes(run: str | Path, manifest: str | Path, *, overrides: dict | None = None,
                  device: str = "auto") -> DeltaResult:
    """Compare `manifest` with the run's rows, predict new and changed rows with the fold
    ensemble, score the current data set as `rank` would and return the changed rows."""
    from cleanlab_lite.data.like_run import read_like_run, run_rows
    from cleanlab_lite.predict import FoldEnsemble
    from cleanlab_lite.rank import score

    t0 = time.perf_counter()
    run = Path(run)
    notes: list[str] = []
    ensemble = FoldEnsemble.load(run)           # first: a run without fold models stops here
    old = run_rows(run)
    folder = Run(run)
    stored = folder.read_pred_probs(mmap=True)
    if stored.shape[0] != len(old.table):
        raise RunFolderError(f"{folder.pred_probs_path} has {stored.shape[0]} rows but "
                             f"{folder.rows_path} has {len(old.table)}; the run folder is "
                             f"inconsistent, retrain it")
    cur = read_like_run(run, manifest, overrides=overrides, require_labels=True,
                        cache_dir=folder.delta_cache_dir)
    t_read = time.perf_counter()
    m = match_rows(old, cur)
    matched = m.run_pos >= 0
    changed = np.zeros(len(cur.table), dtype=bool)
    if old.X is None:
        notes.append("the run's inputs are not in the run folder (no image cache), so contents "
                     "were not compared: only labels, new and removed rows")
    elif m.by != "feature values":
        idx = np.flatnonzero(matched)
        changed[idx] = content_changed(old.X[m.run_pos[idx]], cur.X[idx])
    fresh = ~matched | changed                       # predicted by the fold ensemble
    edited = matched & ~changed & (cur.labels != old.labels[np.maximum(m.run_pos, 0)])
    t_match = time.perf_counter()

    probs = np.empty((len(cur.table), len(old.classes)), dtype=np.float32)
    keep = np.flatnonzero(~fresh)
    probs[keep] = stored[m.run_pos[keep]]
    new_idx = np.flatnonzero(fresh)
    probs[new_idx] = ensemble.predict(cur.X[new_idx], device=device)
    t_pred = time.perf_counter()

    res = score(cur.labels, probs, rank_config(run, notes))
    change = np.full(len(cur.table), "", dtype=object)
    change[edited] = "edited"
    change[~matched] = "new"
    change[changed] = "content_changed"
    ranking = _delta_table(run, old, cur, m, res, change)
    counts = {c: int((ranking["change"] == c).sum()) for c in CHANGES}
    counts["unchanged"] = int(len(cur.table) - (change != "").sum())
    t_end = time.perf_counter()
    seconds = {"read": round(t_read - t0, 3), "match": round(t_match - t_read, 3),
               "predict": round(t_pred - t_match, 3), "score": round(t_end - t_pred, 3),
               "total": round(t_end - t0, 3)}
    return DeltaResult(ranking=ranking, matched_by=m.by, counts=counts, n_current=len(cur.table),
                       n_run=len(old.table), notes=notes, seconds=seconds)


def _delta_table(run, old, cur, m: Matching, res: dict, change: np.ndarray) -> pd.DataFrame:
    """ranking.csv's columns for the changed rows (most suspect first), then the removed rows;
    plus change, previous_label (the run's label) and run_row (the row in the run's manifest)."""
    from cleanlab_lite.rank import ranking_order

    names = np.array([str(c) for c in old.classes], dtype=object)
    id_col = old.cfg.id_col
    order = ranking_order(res["scores"], res["issues"])
    order = order[change[order] != ""]
    pos = m.run_pos[order]
    prev = np.where(pos >= 0, old.labels[np.maximum(pos, 0)], -1)
    run_row = old.table["row"].to_numpy(np.int64)
    cols = {"row": cur.table["row"].to_numpy(np.int64)[order]}
    if id_col:
        cols["id"] = cur.table[id_col].astype(str).to_numpy(dtype=object)[order]
    cols.update({
        "given_label": names[res["labels"][order]],
        "predicted_label": names[res["predicted"][order]],
        "suggested_label": names[res["suggested"][order]],
        "label_quality": np.round(res["scores"][order], 6),
        "is_label_issue": res["issues"][order].astype(bool),
        "suggested_confidence": np.round(res["suggested_confidence"][order], 6),
        "change": change[order],
        "previous_label": np.where(pos >= 0, names[np.maximum(prev, 0)], ""),
        "run_row": pd.array(np.where(pos >= 0, run_row[np.maximum(pos, 0)], 0), dtype="Int64"),
    })
    changed = pd.DataFrame(cols)
    changed.loc[pos < 0, "run_row"] = pd.NA
    gone = m.removed
    removed = pd.DataFrame({
        "row": pd.array([pd.NA] * len(gone), dtype="Int64"),
        **({"id": old.table[id_col].astype(str).to_numpy(dtype=object)[gone]} if id_col else {}),
        "given_label": names[old.labels[gone]],
        "is_label_issue": np.zeros(len(gone), dtype=bool),
        "change": "removed",
        "previous_label": names[old.labels[gone]],
        "run_row": pd.array(run_row[gone], dtype="Int64"),
    })
    changed["row"] = changed["row"].astype("Int64")
    return pd.concat([changed, removed], ignore_index=True)

