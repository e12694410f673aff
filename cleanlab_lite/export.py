"""`clean-labels export`: write a cleaned (rows dropped) or relabeled manifest for retraining.

Kept rows are written back exactly as read (CSV cells as their original text), in their original
order and with all original columns in their order; the output is written atomically and never
over an input file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.data.manifest import (EXTENSIONS, FORMATS, manifest_format, read_manifest,
                                         write_manifest)
from cleanlab_lite.amounts import parse_share
from cleanlab_lite.errors import RunFolderError, UserInputError
from cleanlab_lite.guards import check_output
from cleanlab_lite.io import file_sha256
from cleanlab_lite.run import DECISION_VALUES, Run

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


def _per_class_counts(per_class: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """How many of `labels` (class names) fall in each row's class of `per_class`."""
    return per_class["class"].map(labels.astype(str).value_counts()).fillna(0).astype(int)


def _source_table(run: Run, cfg: dict, fmt_out: str, notes: list[str]) -> pd.DataFrame:
    """The original manifest's rows (all of them, in order), or rows.parquet if it changed."""
    manifest = Path(cfg["manifest"])
    if manifest.is_file() and file_sha256(manifest) == cfg.get("manifest_sha256"):
        raw = fmt_out == "csv" and cfg["manifest_format"] == "csv"
        return read_manifest(manifest, raw=raw)
    notes.append(f"manifest {manifest} is missing or changed since train; exported from "
                 f"{run.rows_path} instead")
    rows = run.read_rows()
    n = int(rows["row"].max()) + 1 if len(rows) else 0
    full = pd.DataFrame(index=pd.RangeIndex(n))
    rows = rows.set_index("row").drop(columns=["fold"], errors="ignore")
    return full.join(rows)


def export_run(run: str | Path, *, mode: str | None, drop_top: str | None = None,
               min_confidence: float = 0.0, out: str | Path | None = None,
               fmt: str | None = None, decisions: str | Path | None = None,
               allow_class_loss: bool = False) -> ExportResult:
    """Write the cleaned or relabeled manifest. `mode` is one of MODES, or None with `decisions`
    (apply the reviewed decisions only).

    `decisions` (a decisions.csv, see cleanlab_lite.review) come first: relabel rows get the new
    label (the old one in original_label), drop rows go, keep rows stay as they are; the mode
    then acts on the rows without a decision. A decision whose given_label no longer matches
    the row's label is not applied and is listed in the result's notes. `drop_flagged` refuses
    (UserInputError, nothing written) to delete more than half of any class's rows unless
    `allow_class_loss`."""
    run = Run(run)
    if mode is None and decisions is None:
        raise UserInputError("choose one of --drop-top N|P%, --drop-flagged, --relabel or --decisions FILE")
    if mode is not None and mode not in MODES:
        raise UserInputError(f"unknown export mode {mode!r}; use one of {', '.join(MODES)}")
    if not 0.0 <= min_confidence <= 1.0:
        raise UserInputError(f"--min-confidence {min_confidence} must be between 0 and 1")
    cfg = run.read_train_config()
    ranking = run.read_ranking()
    fmt_in = cfg["manifest_format"]
    fmt = fmt or (manifest_format(out) if out else fmt_in)
    if fmt not in EXTENSIONS:
        raise UserInputError(f"--format {fmt!r} is unknown; use csv, parquet or jsonl")
    own = run.cleaned_path(EXTENSIONS[fmt])
    out = check_output(out or own, "--out", run=run, own=own,
                       inputs=[(decisions, "the decisions file")],
                       suffixes=tuple(e for e, f in FORMATS.items() if f == fmt))
    notes: list[str] = []
    classes = run.read_classes()
    by_name = {str(c): c for c in classes}
    reviewed = _reviewed(decisions, ranking, [str(c) for c in classes], notes)
    table = _source_table(run, cfg, fmt, notes)
    label_col = cfg["data"]["label_col"]

    ranked_rows = ranking["row"].to_numpy(dtype=np.int64)
    ranked = np.zeros(len(table), dtype=bool)
    ranked[ranked_rows] = True
    unreadable = int((~ranked).sum())  # rows left out by --skip-bad at train time
    keep = ranked.copy()
    given = ranking["given_label"].astype(str)
    per_class = pd.DataFrame({"class": [str(c) for c in classes]})
    per_class["rows"] = _per_class_counts(per_class, given)
    open_rows = ranking[~ranking["row"].isin(reviewed["row"])]  # rows the mode decides
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
        if mode == "drop_flagged" and not allow_class_loss:
            check_class_loss(per_class, str(run))
    elif mode == "relabel":
        conf = open_rows["suggested_confidence"] if "suggested_confidence" in open_rows else 1.0
        change = open_rows[open_rows["is_label_issue"]
                           & (open_rows["suggested_label"] != open_rows["given_label"])
                           & (pd.Series(conf, index=open_rows.index) >= min_confidence)]
        new_label = pd.Series(change["suggested_label"].to_numpy(), index=change["row"].to_numpy())
        per_class["relabeled_from"] = _per_class_counts(per_class, change["given_label"])
        per_class["relabeled_to"] = _per_class_counts(per_class, change["suggested_label"])
    if decisions is not None:
        for what in DECISION_VALUES:
            d = reviewed[reviewed["decision"] == what]
            per_class[f"review_{what}"] = _per_class_counts(per_class, d["given_label"])
        dropped = reviewed.loc[reviewed["decision"] == "drop", "row"].to_numpy(dtype=np.int64)
        keep[dropped] = False
        rel = reviewed[reviewed["decision"] == "relabel"]
        per_class["review_to"] = _per_class_counts(per_class, rel["label"])
        new_label = pd.concat([new_label, pd.Series(rel["label"].to_numpy(),
                                                    index=rel["row"].to_numpy())])
    result = table.iloc[np.flatnonzero(keep)]
    if mode == "relabel" or len(new_label):
        result = _apply_labels(result, new_label, label_col, by_name,
                               blank_original=fmt == "csv" and cfg["manifest_format"] == "csv")
    write_manifest(result.reset_index(drop=True), out, fmt)
    name = "+".join(x for x in (mode, "decisions" if decisions is not None else None) if x)
    return ExportResult(out=out, mode=name, n_in=len(table), n_out=len(result),
                        per_class=per_class, unreadable_dropped=unreadable, notes=notes)


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


def _reviewed(decisions, ranking: pd.DataFrame, classes: list[str], notes: list[str]) -> pd.DataFrame:
    """The decisions that apply (row, given_label, decision, label); stale ones go to `notes`."""
    if decisions is None:
        return pd.DataFrame({"row": pd.Series(dtype=np.int64), "decision": pd.Series(dtype=str)})
    from cleanlab_lite.decisions import match_decisions, stale_note
    from cleanlab_lite.run import read_decisions

    matched = match_decisions(read_decisions(decisions), ranking, classes, str(decisions))
    if len(matched.stale):
        notes.append(stale_note(matched.stale, str(decisions)))
    return matched.applied


def _apply_labels(result: pd.DataFrame, new_label: pd.Series, label_col: str, by_name: dict,
                  blank_original: bool) -> pd.DataFrame:
    """Set result[label_col] at the rows of `new_label` (class names), keeping the old value in
    a new column original_label (empty for rows not relabeled)."""
    if label_col not in result.columns:
        raise RunFolderError(f"manifest has no column {label_col!r} any more; rerun train")
    result = result.copy()
    rows = new_label.index.to_numpy(dtype=np.int64)
    new_vals = [by_name.get(s, s) for s in new_label]
    original = pd.Series([None] * len(result), index=result.index, dtype=object)
    if len(rows):
        original.loc[rows] = result.loc[rows, label_col].to_numpy()
        col = result[label_col]
        if col.dtype != object:
            vals = pd.Series(new_vals, index=rows).astype(col.dtype)
        else:
            vals = pd.Series([str(v) if isinstance(col.iloc[0], str) else v for v in new_vals],
                             index=rows, dtype=object)
        result.loc[rows, label_col] = vals
    if "original_label" in result.columns:     # relabeled before: the first label stays
        earlier = result["original_label"]
        had = earlier.notna() & (earlier.astype(str) != "")
        original = original.astype(object).where(~had, earlier)
    result["original_label"] = original.fillna("") if blank_original else original
    return result
