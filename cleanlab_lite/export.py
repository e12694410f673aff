"""`clean-labels export`: write a cleaned (rows dropped) or relabeled manifest for retraining.

Kept rows are written back exactly as read (CSV cells as their original text), in their original
order and with all original columns in their order; the output is written atomically and never
over an input file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.amounts import parse_share
from cleanlab_lite.data.labels import like_column, unlabeled_mask
from cleanlab_lite.data.manifest import (EXTENSIONS, FORMATS, manifest_format, read_manifest,
                                         write_manifest)
from cleanlab_lite.decisions import DECISION_VALUES
from cleanlab_lite.errors import RunFolderError, UserInputError
from cleanlab_lite.guards import check_output
from cleanlab_lite.io import file_sha256
from cleanlab_lite.run import Run

MODES = ("drop_top", "drop_flagged", "relabel")
MAX_CLASS_LOSS = 0.5        # --drop-flagged deletes at most this share of any class without
                            # --allow-class-loss


@dataclass
class ExportResult:
    out: Path
    mode: str
    n_in: int
    n_out: int
    per_class: pd.DataFrame               # class, rows, dropped | relabeled_from, relabeled_to
    unreadable_dropped: int = 0
    notes: list[str] = field(default_factory=list)
    unlabeled_kept: int = 0               # rows without a label, written unchanged
    folders: dict | None = None           # --folders: counts of files written (write_class_tree)
    folders_path: Path | None = None
    retrain_input: Path | None = None     # what to train on next (the tree, else the manifest)


def _per_class_counts(per_class: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """How many of `labels` (class names) fall in each row's class of `per_class`."""
    return per_class["class"].map(labels.astype(str).value_counts()).fillna(0).astype(int)


def _source_table(run: Run, cfg: dict, fmt_out: str, notes: list[str]) -> tuple[pd.DataFrame, bool]:
    """(the original manifest's rows, all of them, in order; True), or (rows.parquet's rows on
    their manifest positions; False) when the manifest is gone. A manifest edited since train
    is refused: the trained rows would undo the edits."""
    manifest = Path(cfg["manifest"])
    if manifest.is_file():
        if file_sha256(manifest) != cfg.get("manifest_sha256"):
            raise UserInputError(
                f"manifest {manifest} changed since train (its sha256 is not the one in "
                f"{run.config_path}), and exporting the trained rows would undo the edits; "
                f"judge the edits with `clean-labels check {run} --manifest {manifest}`, or "
                f"retrain (`clean-labels train {manifest} --out RUN2`) and rank before exporting")
        raw = fmt_out == "csv" and cfg["manifest_format"] == "csv"
        return read_manifest(manifest, raw=raw), True
    notes.append(f"manifest {manifest} is missing; exported from {run.rows_path} instead (rows "
                 "without a label are not in it)")
    rows = run.read_rows()
    n = int(rows["row"].max()) + 1 if len(rows) else 0
    full = pd.DataFrame(index=pd.RangeIndex(n))
    rows = rows.set_index("row").drop(columns=["fold"], errors="ignore")
    return full.join(rows), False


@dataclass
class _Plan:
    """Which rows an export keeps and which get a new label (class names by row)."""
    keep: np.ndarray
    new_label: pd.Series
    per_class: pd.DataFrame


def _check_args(mode, decisions, min_confidence) -> float:
    """Refuse a mode that is not one, and --min-confidence where it does nothing; returns the
    confidence floor (0 when not given)."""
    if mode is None and decisions is None:
        raise UserInputError("choose one of --drop-top N|P%, --drop-flagged, --relabel or --decisions FILE")
    if mode is not None and mode not in MODES:
        raise UserInputError(f"unknown export mode {mode!r}; use one of {', '.join(MODES)}")
    if min_confidence is not None and mode != "relabel":
        raise UserInputError("--min-confidence applies to --relabel only; add --relabel or drop "
                             "--min-confidence")
    min_confidence = 0.0 if min_confidence is None else float(min_confidence)
    if not 0.0 <= min_confidence <= 1.0:
        raise UserInputError(f"--min-confidence {min_confidence} must be between 0 and 1")
    return min_confidence


def export_run(run: str | Path, *, mode: str | None, drop_top: str | None = None,
               min_confidence: float | None = None, out: str | Path | None = None,
               fmt: str | None = None, decisions: str | Path | None = None,
               folders: str | Path | None = None, allow_class_loss: bool = False) -> ExportResult:
    """Write the cleaned or relabeled manifest. `mode` is one of MODES, or None with `decisions`
    (apply the reviewed decisions only).

    `decisions` (a decisions.csv, see cleanlab_lite.review) come first: relabel rows get the new
    label (the old one in original_label), drop rows go, keep rows stay as they are; the mode
    then acts on the rows without a decision. A decision whose given_label no longer matches
    the row's label is not applied and is listed in the result's notes. Rows without a label
    (left out by train) are written unchanged. Relative image paths are rewritten relative to
    the output's folder. `folders`: also write the kept image rows as FOLDERS/<class>/<file>.
    `drop_flagged` refuses (UserInputError, nothing written) to delete more than half of any
    class's rows unless `allow_class_loss`."""
    run = Run(run)
    min_confidence = _check_args(mode, decisions, min_confidence)
    cfg = run.read_train_config()
    ranking = run.read_ranking()
    fmt = fmt or (manifest_format(out) if out else cfg["manifest_format"])
    if fmt not in EXTENSIONS:
        raise UserInputError(f"--format {fmt!r} is unknown; use csv, parquet or jsonl")
    own = run.cleaned_path(EXTENSIONS[fmt])
    out = check_output(out or own, "--out", run=run, own=own,
                       inputs=[(decisions, "the decisions file")],
                       suffixes=tuple(e for e, f in FORMATS.items() if f == fmt))
    if folders is not None:
        folders = _check_folders(folders, run, cfg)
    notes: list[str] = []
    classes = run.read_classes()
    reviewed = _reviewed(decisions, ranking, [str(c) for c in classes], notes)
    table, whole = _source_table(run, cfg, fmt, notes)
    label_col = cfg["data"]["label_col"]
    ranked = np.zeros(len(table), dtype=bool)
    ranked[ranking["row"].to_numpy(dtype=np.int64)] = True
    unlabeled = ~ranked & unlabeled_mask(table[label_col]) if whole and label_col in table \
        else np.zeros(len(table), dtype=bool)
    plan = _plan(mode, ranking, reviewed, classes, ranked, drop_top, min_confidence)
    if mode == "drop_flagged" and not allow_class_loss:
        check_class_loss(plan.per_class, str(run))
    keep = plan.keep | unlabeled
    if not keep.any():
        raise UserInputError(f"export would write no rows: {mode or 'decisions'} leaves none of "
                             f"the {len(table)} rows; drop fewer (e.g. --drop-top 10%)")
    result = table.iloc[np.flatnonzero(keep)]
    if mode == "relabel" or len(plan.new_label):
        result = _apply_labels(result, plan.new_label, label_col, classes,
                               blank_original=fmt == "csv" and cfg["manifest_format"] == "csv")
    result = _rebase_paths(result.reset_index(drop=True), cfg, Path(out).parent)
    write_manifest(result, out, fmt)
    name = "+".join(x for x in (mode, "decisions" if decisions is not None else None) if x)
    res = ExportResult(out=out, mode=name, n_in=len(table), n_out=len(result),
                       per_class=plan.per_class, unreadable_dropped=int((~ranked & ~unlabeled).sum()),
                       notes=notes, unlabeled_kept=int(unlabeled.sum()))
    res.retrain_input = out
    if folders is not None:
        res.folders = _write_folders(folders, table, plan, ranking, classes, cfg)
        res.folders_path = res.retrain_input = folders
    return res


def _plan(mode, ranking, reviewed, classes, ranked, drop_top, min_confidence) -> _Plan:
    """The rows kept (of the ranked ones) and the new labels, by mode then by decisions."""
    keep = ranked.copy()
    given = ranking["given_label"].astype(str)
    per_class = pd.DataFrame({"class": [str(c) for c in classes]})
    per_class["rows"] = _per_class_counts(per_class, given)
    decided = reviewed["row"] if reviewed is not None else []
    open_rows = ranking[~ranking["row"].isin(decided)]          # rows the mode decides
    new_label = pd.Series(dtype=object)                         # row -> new class name
    if mode in ("drop_top", "drop_flagged"):
        if mode == "drop_top":
            if drop_top is None:
                raise UserInputError("--drop-top needs a count or a percentage, e.g. --drop-top 10%")
            k = parse_share(drop_top, len(ranking), "--drop-top")
            drop = open_rows[open_rows["row"].isin(ranking["row"].iloc[:k])]
        else:
            drop = open_rows[open_rows["is_label_issue"]]
        keep[drop["row"].to_numpy(dtype=np.int64)] = False
        per_class["dropped"] = _per_class_counts(per_class, drop["given_label"])
    elif mode == "relabel":
        conf = open_rows["suggested_confidence"] if "suggested_confidence" in open_rows else 1.0
        change = open_rows[open_rows["is_label_issue"]
                           & (open_rows["suggested_label"] != open_rows["given_label"])
                           & (pd.Series(conf, index=open_rows.index) >= min_confidence)]
        new_label = pd.Series(change["suggested_label"].to_numpy(), index=change["row"].to_numpy())
        per_class["relabeled_from"] = _per_class_counts(per_class, change["given_label"])
        per_class["relabeled_to"] = _per_class_counts(per_class, change["suggested_label"])
    plan = _Plan(keep, new_label, per_class)
    return plan if reviewed is None else _apply_decisions(plan, reviewed)


def _apply_decisions(plan: _Plan, reviewed: pd.DataFrame) -> _Plan:
    """Reviewed decisions on top of the mode: drop rows go, relabel rows get their label."""
    per_class = plan.per_class
    for what in DECISION_VALUES:
        d = reviewed[reviewed["decision"] == what]
        per_class[f"review_{what}"] = _per_class_counts(per_class, d["given_label"])
    plan.keep[reviewed.loc[reviewed["decision"] == "drop", "row"].to_numpy(dtype=np.int64)] = False
    rel = reviewed[reviewed["decision"] == "relabel"]
    per_class["review_to"] = _per_class_counts(per_class, rel["label"])
    plan.new_label = pd.concat([plan.new_label, pd.Series(rel["label"].to_numpy(),
                                                          index=rel["row"].to_numpy())])
    return plan


def _rebase_paths(result: pd.DataFrame, cfg: dict, folder: Path) -> pd.DataFrame:
    """An image run's relative paths, rewritten relative to `folder` (where the output goes), so
    `train OUT` finds the images with no --data-root."""
    data = cfg.get("data") or {}
    col, root = data.get("path_col"), data.get("data_root")
    if cfg.get("kind") != "image" or col not in result.columns or not root:
        return result
    here = os.path.realpath(folder)
    cells = result[col]

    def rebase(p):
        if not isinstance(p, str) or not p or os.path.isabs(p):
            return p
        return os.path.relpath(os.path.join(root, p), here)

    result = result.copy()
    result[col] = cells.map(rebase)
    return result


def _check_folders(folders, run: Run, cfg: dict) -> Path:
    """--folders OUT: only for image runs, outside the data folder and the run folder."""
    from cleanlab_lite.data.folders import check_tree_output

    if cfg.get("kind") != "image":
        raise UserInputError(f"--folders writes image files, but the run {run} was trained on "
                             f"{cfg.get('kind')} data; drop --folders")
    root = (cfg.get("data") or {}).get("data_root")
    forbidden = [("run folder", run.path)] + ([("data folder", Path(root))] if root else [])
    return check_tree_output(folders, forbidden)


def _write_folders(folders: Path, table: pd.DataFrame, plan: _Plan, ranking, classes, cfg) -> dict:
    """The kept labelled rows' images as FOLDERS/<class>/<file> (relabeled rows under their new
    class). Returns the counts of `write_class_tree`."""
    from cleanlab_lite.data.folders import write_class_tree

    data = cfg["data"]
    rows = np.flatnonzero(plan.keep)
    given = pd.Series(ranking["given_label"].astype(str).to_numpy(), index=ranking["row"].to_numpy())
    names = given.reindex(rows)
    if len(plan.new_label):
        new = plan.new_label.astype(str)
        new = new[~new.index.duplicated(keep="last")]
        names.update(new.reindex(rows).dropna())
    root = data.get("data_root") or ""
    items = []
    for i, c in zip(rows, table[data["path_col"]].to_numpy(dtype=object)[rows]):
        if isinstance(c, dict):      # an image stored in the manifest: bytes, and a name
            if c.get("bytes"):
                items.append((c.get("path") or f"row-{i}.png", bytes(c["bytes"])))
                continue
            c = c.get("path") or ""
        items.append(str(c) if os.path.isabs(str(c)) else os.path.join(root, str(c)))
    return write_class_tree(items, names.tolist(), folders)


def check_class_loss(per_class: pd.DataFrame, run: str) -> None:
    """Refuse a --drop-flagged that deletes more than MAX_CLASS_LOSS of any class (columns class,
    rows, dropped), naming the class that loses the largest share and its count."""
    share = per_class["dropped"] / per_class["rows"].clip(lower=1)
    over = per_class[share > MAX_CLASS_LOSS]
    if over.empty:
        return
    worst = over.loc[share[over.index].idxmax()]
    more = f" (and {len(over) - 1} other class(es))" if len(over) > 1 else ""
    raise UserInputError(
        f"export --drop-flagged would delete {int(worst['dropped'])} of the {int(worst['rows'])} "
        f"rows of class {worst['class']!r}{more}, more than half: the flags there are more likely "
        f"the model's failure than wrong labels (see the warnings in {run}/summary.json); review "
        f"them (clean-labels review {run}) or pass --allow-class-loss to drop them anyway")


def _reviewed(decisions, ranking: pd.DataFrame, classes: list[str], notes: list[str]) -> pd.DataFrame | None:
    """The decisions that apply (row, given_label, decision, label), None without a decisions
    file; stale ones go to `notes`."""
    if decisions is None:
        return None
    from cleanlab_lite.decisions import match_decisions, read_decisions, stale_note

    matched = match_decisions(read_decisions(decisions), ranking, classes, str(decisions))
    if len(matched.stale):
        notes.append(stale_note(matched.stale, str(decisions)))
    return matched.applied


def _apply_labels(result: pd.DataFrame, new_label: pd.Series, label_col: str, classes: list,
                  blank_original: bool) -> pd.DataFrame:
    """Set result[label_col] at the rows of `new_label` (class names), as the column's kind of
    value (`data.labels.like_column`), keeping the old value in a new column original_label
    (empty for rows not relabeled)."""
    if label_col not in result.columns:
        raise RunFolderError(f"manifest has no column {label_col!r} any more; rerun train")
    result = result.copy()
    rows = new_label.index.to_numpy(dtype=np.int64)
    col = result[label_col]
    by_name = dict(zip(map(str, classes), like_column(classes, col)))
    original = pd.Series([None] * len(result), index=result.index, dtype=object)
    if len(rows):
        original.loc[rows] = col.loc[rows].to_numpy()
        result.loc[rows, label_col] = pd.Series([by_name[str(s)] for s in new_label], index=rows,
                                                dtype=col.dtype)
    if "original_label" in result.columns:     # relabeled before: the first label stays
        earlier = result["original_label"]
        had = earlier.notna() & (earlier.astype(str) != "")
        original = original.astype(object).where(~had, earlier)
    result["original_label"] = original.fillna("") if blank_original else original
    return result
