"""The rank stage: score every row, flag likely label errors, estimate the noise, and write
RUN/ranking.parquet with its CSV view ranking.csv (most suspect first) and RUN/summary.json.

Two entry points: `rank_run(RUN, cfg)` on a train run folder, and `rank_arrays(pred_probs,
labels, OUT, cfg)` on out-of-fold probabilities from the user's own model. Both read
pred_probs.npy in chunks (never whole), so the file may be larger than memory.

The ranking is built as one pyarrow table from columnar arrays (ranking.py; one million rows in
well under a second); class names are a dictionary take, not a per-row Python loop.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from cleanlab_lite.config import RankConfig, to_dict
from cleanlab_lite.device import resolve_device
from cleanlab_lite.errors import (
    ConfigError,
    LabelsError,
    PredProbsError,
    RunFolderError,
)
from cleanlab_lite.io import check_input_file, file_record
from cleanlab_lite.run import Run
from cleanlab_lite.scoring import count as cl_count
from cleanlab_lite.scoring.api import issues_from, scores_from
from cleanlab_lite.scoring.engine import Engine, check_labels
from cleanlab_lite.scoring.trust import flag_warnings


# ---- the computation -----------------------------------------------------------------------
def score(labels: np.ndarray, pred_probs, cfg: RankConfig) -> dict:
    """Scores, flags and estimates for one (labels, pred_probs) pair; arrays of shape (N,)."""
    eng = Engine.create(labels, pred_probs, renormalize=cfg.renormalize, cj_argmax=cfg.cj_argmax,
                        device=resolve_device(cfg.device), chunk_rows=cfg.chunk_rows)
    # ask pass A for everything it will be needed for, so each pass runs once
    eng.ensure_a(max_other=cfg.method == "normalized_margin" or cfg.filter_by == "low_normalized_margin",
                 entropy=cfg.method == "confidence_weighted_entropy",
                 rowsum64=cfg.adjust_pred_probs)
    eng.ensure_b(adj_margin=cfg.adjust_pred_probs and cfg.method == "normalized_margin")
    scores = scores_from(eng, cfg.method, cfg.adjust_pred_probs)
    num_remove = cfg.num_to_remove_per_class
    try:
        issues = issues_from(eng, cfg.filter_by, frac_noise=cfg.frac_noise,
                             num_to_remove_per_class=None if num_remove is None else list(num_remove),
                             min_examples_per_class=int(cfg.min_examples_per_class))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    s = eng.stats
    y = eng.labels
    cj = eng.confident_joint()
    cal = eng.calibrated_joint()
    counts = eng.label_counts
    py, nm, inm = cl_count.latent(cal, counts)
    est_off = eng.num_issues("off_diagonal")
    est_cal = eng.num_issues("off_diagonal_calibrated")
    if cfg.estimation_method == "adaptive":
        per_class_est = np.bincount(y[issues_from(eng, "adaptive")], minlength=eng.k)
    elif cfg.estimation_method == "off_diagonal":
        per_class_est = np.bincount(y[eng.off_diagonal() & ~eng.reduce_mask], minlength=eng.k)
    else:
        joint = cl_count.joint_distribution(cal, counts)
        per_class_est = np.rint((joint.sum(axis=1) - joint.diagonal()) * eng.n).astype(np.int64)
    predicted = s["argmax"]
    suggested = np.where(issues, predicted, y)
    suggested_conf = np.where(issues, s["maxp"], s["given"])
    return {"n": eng.n, "k": eng.k, "labels": y, "scores": scores, "issues": issues,
            "predicted": predicted, "suggested": suggested, "suggested_confidence": suggested_conf,
            "confident_joint": cj, "calibrated_joint": cal, "class_priors": py,
            "noise_matrix": nm, "inv_noise_matrix": inm, "label_counts": counts,
            "estimated_off_diagonal": est_off, "estimated_calibrated": est_cal,
            "per_class_estimated": per_class_est, "thresholds": s["thresholds"],
            "estimated_adaptive": eng.num_issues("adaptive"),
            "flag_count": explain_count(eng, cfg.filter_by, int(issues.sum())),
            "device": eng.device}


FILTER_HOW = {
    "prune_by_noise_rate": "per (given, other) class pair, the calibrated confident joint's count "
                           "of rows with the largest margin toward the other class",
    "prune_by_class": "per class, the calibrated confident joint's off-diagonal count of rows "
                      "with the lowest self-confidence",
    "both": "rows flagged by both prune_by_noise_rate and prune_by_class",
    "confident_learning": "rows off the confident joint's diagonal (another class passes its "
                          "threshold, the mean self-confidence of the rows labeled with it)",
    "predicted_neq_given": "rows whose most likely class is not the given label",
    "low_self_confidence": "the off_diagonal estimate's count of rows with the lowest "
                           "self-confidence",
    "low_normalized_margin": "the off_diagonal estimate's count of rows with the lowest "
                             "normalized margin",
}


def explain_count(eng: Engine, filter_by: str, num_flagged: int) -> dict:
    """How the number of flags was chosen: the rule, the estimate and its inputs, one sentence.
    Written to summary.json as `flag_count` and printed by `rank`."""
    off = eng.num_issues("off_diagonal")
    out = {"rule": filter_by, "num_flagged": num_flagged, "confident_learning_count": off,
           "predicted_neq_given": int((~eng.reduce_mask).sum())}
    if filter_by != "adaptive":
        out["how"] = (f"{num_flagged} rows flagged by {filter_by}: {FILTER_HOW[filter_by]}; "
                      f"plain confident learning counts {off}")
        return out
    from cleanlab_lite.scoring.adaptive import adaptive_count
    a = adaptive_count(eng)
    out.update({k: a[k] for k in ("temperature_fit", "sharpen", "temperature", "order",
                                  "sharpened_count", "low_noise", "sample_rows",
                                  "candidate_sample_rows", "exact")})
    for key in ("posterior_count", "weak_model_added", "cleanlab_cap"):
        if a.get(key) is not None:
            out[key] = a[key]
    sampled = "" if a["exact"] else (f" (T_fit and thresholds from {a['sample_rows']} evenly "
                                     f"spaced rows, the count from {a['candidate_sample_rows']} "
                                     "of the candidates)")
    which = ("most likely mislabeled under the estimated noise matrix at T"
             if a["order"] == "noise_posterior" else "with the lowest self-confidence")
    cap = "" if not a["low_noise"] else (
        f"; few are counted among many disagreements, so most of these are the model's own "
        f"mistakes: capped at the {a['posterior_count']} most likely mislabeled at T_fit")
    if a["weak_model_added"]:
        cap += (f"; the model is weak, so {a['weak_model_added']} of the uncounted candidates "
                f"are added at the estimated noise rate")
    if a["cleanlab_cap"] is not None:
        cap += f"; at most cleanlab's default count, {a['cleanlab_cap']}"
    out["how"] = (f"the {num_flagged} rows {which} among the {a['candidates']} predicted as "
                  f"another class; {a['sharpened_count']} of those are off the confident joint's "
                  f"diagonal after temperature scaling to T = {a['sharpen']} x T_fit = "
                  f"{a['temperature']:.3f} (T_fit = {a['temperature_fit']:.3f}, fitted to the "
                  f"given labels){sampled}{cap}; plain confident learning (T = 1) counts {off}")
    return out


def ranking_order(scores: np.ndarray, issues: np.ndarray) -> np.ndarray:
    """Flagged rows first, each group by ascending label quality; ties by row."""
    key = np.where(issues, 0.0, 2.0) + np.clip(scores, 0.0, 1.0)   # flagged rows sort below 2
    order = np.argsort(key)                     # numpy's SIMD sort; then make ties go by row
    ks = key[order]
    tie = np.flatnonzero(ks[1:] == ks[:-1])
    if len(tie):
        pos = np.unique(np.concatenate([tie, tie + 1]))
        sub = order[pos]
        order[pos] = sub[np.lexsort((sub, ks[pos]))]
    return order


# ---- writing --------------------------------------------------------------------------------
def write_ranking(run: Run, res: dict, classes: list, rows: np.ndarray, ids=None) -> dict:
    """ranking.parquet and ranking.csv, most suspect first (columns: ranking.py); the Parquet
    file's provenance record."""
    from cleanlab_lite.ranking import build_table

    table = build_table(ranking_order(res["scores"], res["issues"]), rows=rows, classes=classes,
                        given=res["labels"], predicted=res["predicted"], suggested=res["suggested"],
                        quality=res["scores"], is_issue=res["issues"],
                        suggested_confidence=res["suggested_confidence"], ids=ids)
    return run.write_ranking(table)


def build_summary(res: dict, cfg: RankConfig, classes: list, seconds: dict, source: str) -> dict:
    n = res["n"]
    est = {"adaptive": res["estimated_adaptive"], "off_diagonal": res["estimated_off_diagonal"],
           "off_diagonal_calibrated": res["estimated_calibrated"]}[cfg.estimation_method]
    flagged = np.bincount(res["labels"][res["issues"]], minlength=res["k"])
    per_class = [{"class": str(c), "count": int(res["label_counts"][i]), "flagged": int(flagged[i]),
                  "estimated_issues": int(res["per_class_estimated"][i])}
                 for i, c in enumerate(classes)]
    return {
        "n": n, "k": res["k"],
        "num_flagged": int(res["issues"].sum()),
        "flagged_rate": float(res["issues"].sum() / n) if n else 0.0,
        "estimated_num_issues": int(est),
        "estimated_noise_rate": float(est / n) if n else 0.0,
        "estimation_method": cfg.estimation_method,
        "estimated_num_issues_off_diagonal": int(res["estimated_off_diagonal"]),
        "estimated_num_issues_calibrated": int(res["estimated_calibrated"]),
        "estimated_num_issues_adaptive": int(res["estimated_adaptive"]),
        "flag_count": res["flag_count"],
        "method": cfg.method, "adjust_pred_probs": bool(cfg.adjust_pred_probs),
        "filter_by": cfg.filter_by, "cj_argmax": cfg.cj_argmax,
        "classes": [str(c) for c in classes],
        "per_class": per_class,
        "noise_matrix": np.round(res["noise_matrix"], 6).tolist(),
        "inv_noise_matrix": np.round(res["inv_noise_matrix"], 6).tolist(),
        "confident_joint": res["confident_joint"].tolist(),
        "calibrated_joint": res["calibrated_joint"].tolist(),
        "class_priors": np.round(res["class_priors"], 6).tolist(),
        "confident_thresholds": np.round(res["thresholds"], 6).tolist(),
        "oof_accuracy": float(np.mean(res["predicted"] == res["labels"])),
        "warnings": flag_warnings(res["labels"], res["predicted"], res["issues"], classes),
        "device": res["device"], "pred_probs": source,
        "config": to_dict(cfg), "seconds": seconds,
    }


def _finish(out: Run, res: dict, cfg: RankConfig, classes, rows, ids, t0: float, t_score: float,
            source: str, inputs: dict) -> dict:
    if len(classes) != res["k"]:
        raise LabelsError(f"there are {len(classes)} class names but pred_probs has {res['k']} "
                          "columns; pass one class name per pred_probs column, in column order")
    import pyarrow.parquet  # noqa: F401  (import time is not write time)
    t1 = time.perf_counter()
    ranking = write_ranking(out, res, classes, rows, ids)
    t2 = time.perf_counter()
    seconds = {"score": round(t_score - t0, 4), "write": round(t2 - t1, 4)}
    summary = build_summary(res, cfg, classes, seconds, source)
    out.write_summary(summary, inputs=inputs, ranking=ranking)
    summary["seconds"]["total"] = round(time.perf_counter() - t0, 4)
    return summary


# ---- entry points ---------------------------------------------------------------------------
def labels_from_values(values, classes: list | None, k: int, where: str) -> tuple[np.ndarray, list]:
    """Map label values (names or integer indices) to class indices; returns (labels, classes).
    With `classes`, values are matched to them as text (`data.labels.codes_for`); without,
    plain integers are class indices and anything else names the K classes in sorted order.
    Float values must be whole numbers (3.0 is class 3; 2.5 is an error, not a class name)."""
    from cleanlab_lite.data.labels import PLAIN_INT, codes_for, encode_labels, label_keys

    vals = np.asarray(values)
    if vals.dtype.kind == "f":
        bad = ~np.isfinite(vals) | (vals != np.round(vals))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LabelsError(f"{where}, row {i}: label {float(vals[i])!r} is not a whole number; labels "
                              "are class indices (0..K-1) or class names")
    if classes is not None:
        return codes_for(vals, list(classes), where=where,
                         fix="fix the label column or the class list"), list(classes)
    keys = label_keys(vals).astype(str)
    if all(PLAIN_INT.fullmatch(v) for v in np.unique(keys)):
        return check_labels(keys.astype(np.int64), len(vals), k, name=where), [str(i) for i in range(k)]
    codes, names = encode_labels(vals, where=where)
    if len(names) != k:
        raise LabelsError(f"{where}: {len(names)} distinct label names but pred_probs has {k} columns; "
                          "pass --classes classes.json listing the class of each column in order")
    return codes, [str(n) for n in names]


def rank_run(run_dir, cfg: RankConfig | None = None) -> dict:
    """Rank a train run folder: reads pred_probs.npy (in chunks), labels.npy (or rows.parquet +
    the label column), classes.json; writes ranking.csv and summary.json into it."""
    t0 = time.perf_counter()
    cfg = cfg or RankConfig()   # checked when made (config.RULES)
    run = Run(run_dir)
    run.require_dir("pass the --out folder of `clean-labels train`")
    pp = run.require_pred_probs()
    inputs = run.check_train_outputs()
    classes = run.read_classes()
    data = run.read_config().get("data") or {}
    id_col = data.get("id_col")
    label_col = data.get("label_col", "label")
    want = ["row"] + ([id_col] if id_col else [])
    names = run.rows_columns()
    table = None
    labels = run.read_labels()
    if names is not None:
        cols = [c for c in want if c in names]
        if labels is None:
            if label_col not in names:
                raise RunFolderError(f"{run.rows_path} has no label column {label_col!r} and {run} has "
                                     f"no labels.npy; rerun `clean-labels train`")
            cols.append(label_col)
        table = run.read_rows_table(cols)
    if labels is None:
        if table is None:
            raise RunFolderError(f"run folder {run} has neither labels.npy nor rows.parquet; "
                                 "rerun `clean-labels train`")
        labels, _ = labels_from_values(table.column(label_col).to_numpy(zero_copy_only=False),
                                       classes, len(classes), str(run.rows_path))
    lpath = run.labels_path
    labels = _labels_for(labels, pp, str(lpath))
    n = len(labels)
    rows = np.arange(n)
    ids = None
    if table is not None:
        if table.num_rows != n:
            raise RunFolderError(f"{run.rows_path} has {table.num_rows} rows but labels has {n}; "
                                 "the run folder is inconsistent, rerun `clean-labels train`")
        if "row" in table.column_names:
            rows = table.column("row").to_numpy()
        if id_col and id_col in table.column_names:
            ids = table.column(id_col)
    res = score(labels, pp, cfg)
    return _finish(run, res, cfg, classes, rows, ids, t0, time.perf_counter(), str(pp), inputs)


def _labels_for(labels, pred_probs, name: str) -> np.ndarray:
    """Validate labels against pred_probs' shape, naming the labels file in errors."""
    from cleanlab_lite.scoring._source import as_source
    src = as_source(pred_probs)
    if len(src.shape) != 2:
        raise PredProbsError(f"{src.name} has shape {src.shape}; pred_probs must be 2-D (N, K)")
    if src.shape[0] == 0 or src.shape[1] < 2:
        raise PredProbsError(f"{src.name} has shape {src.shape}; pred_probs needs at least one row and "
                             "two class columns (N >= 1, K >= 2)")
    return check_labels(labels, src.shape[0], src.shape[1], name=name)


def rank_arrays(pred_probs, labels, out_dir, cfg: RankConfig | None = None, classes=None,
                ids=None, *, inputs=()) -> dict:
    """Rank out-of-fold probabilities from the user's own model (no run folder).

    pred_probs: (N, K) array, `.npy` path, or a list of those (averaged). labels: (N,) ints.
    inputs: other files the caller read ((path, what): the labels file, the classes file),
    never written over. Writes OUT/ranking.csv and OUT/summary.json; returns the summary dict.
    """
    from cleanlab_lite.guards import check_out_folder

    t0 = time.perf_counter()
    cfg = cfg or RankConfig()   # checked when made (config.RULES)
    out = Run(out_dir)
    pp_paths = [pred_probs] if isinstance(pred_probs, (str, Path)) else (
        list(pred_probs) if isinstance(pred_probs, (list, tuple)) else [])
    check_out_folder(out.path, "--out", what="ranking.csv and summary.json",
                     inputs=[*((p, "the pred_probs file") for p in pp_paths
                               if isinstance(p, (str, Path))), *inputs])
    if out.pred_probs_path.is_file() or out.config_path.is_file():
        raise ConfigError(f"--out {out} is a train run folder; rank it with `clean-labels rank {out}`, "
                          "or write the ranking of --pred-probs to a new folder")
    labels = _labels_for(labels, pred_probs, "labels")
    k = _k_of(pred_probs)
    classes = list(classes) if classes is not None else [str(i) for i in range(k)]
    if ids is not None and len(ids) != len(labels):
        raise LabelsError(f"the id column has {len(ids)} values but labels has {len(labels)}; "
                          "they must describe the same rows")
    res = score(labels, pred_probs, cfg)
    src = pred_probs if isinstance(pred_probs, (str, Path)) else (
        [str(p) for p in pred_probs] if isinstance(pred_probs, (list, tuple)) else "array")
    sources = {"labels_sha256": hashlib.sha256(np.ascontiguousarray(labels, np.int64)).hexdigest()}
    paths = [pred_probs] if isinstance(pred_probs, (str, Path)) else (
        list(pred_probs) if isinstance(pred_probs, (list, tuple)) else [])
    sources["pred_probs"] = {str(p): file_record(Path(p)) for p in paths if isinstance(p, (str, Path))}
    return _finish(out, res, cfg, classes, np.arange(len(labels)), ids, t0, time.perf_counter(),
                   str(src), {"sources": sources})


def _k_of(pred_probs) -> int:
    from cleanlab_lite.scoring._source import as_source
    return int(as_source(pred_probs).shape[1])


def read_labels_file(path, label_col: str | None, classes, k: int, id_col: str | None = None):
    """Labels for `rank --labels`: a `.npy` of ints, or a manifest (csv/parquet/jsonl) column.
    Returns (labels, classes, ids)."""
    p = check_input_file(path, "labels file", LabelsError)
    if p.suffix.lower() == ".npy":
        try:
            vals = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise LabelsError(f"labels file {p} cannot be read ({e}); save it with numpy.save") from None
        if vals.ndim != 1:
            raise LabelsError(f"labels file {p} has shape {vals.shape}; it must be one label per row (N,)")
        if vals.dtype.kind in "iu":              # class indices; --classes only names them
            cls = list(classes) if classes is not None else [str(i) for i in range(k)]
            return check_labels(vals, len(vals), k, name=str(p)), cls, None
        labels, cls = labels_from_values(vals, classes, k, str(p))
        return labels, cls, None
    from cleanlab_lite.data.load import check_unique_ids
    from cleanlab_lite.data.manifest import read_manifest

    col = label_col or "label"
    df = read_manifest(p, text_cols=(col, id_col))
    if col not in df.columns:
        raise LabelsError(f"manifest {p} has no column {col!r} (columns: {', '.join(map(str, df.columns[:10]))}); "
                          "pass the label column with --label-col")
    if df[col].isna().any():
        i = int(np.argmax(df[col].isna().to_numpy()))
        raise LabelsError(f"manifest {p}: row {i} has no value in label column {col!r}; fill it or drop the row")
    ids = None
    if id_col:
        if id_col not in df.columns:
            raise LabelsError(f"manifest {p} has no id column {id_col!r}; fix --id-col")
        check_unique_ids(df[id_col], f"manifest {p}", id_col)
        ids = df[id_col].astype(str).to_numpy()
    labels, cls = labels_from_values(df[col].to_numpy(), classes, k, f"manifest {p} column {col!r}")
    return labels, cls, ids


def read_classes_file(path) -> list:
    """`rank --classes`: a JSON list of class names in pred_probs column order."""
    import json

    p = check_input_file(path, "--classes file", ConfigError)
    try:
        classes = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"--classes {p} cannot be read as a JSON list ({e})") from None
    if not isinstance(classes, list):
        raise ConfigError(f"--classes {p} holds a JSON {type(classes).__name__}, not a list of "
                          "class names; write e.g. [\"cat\", \"dog\"]")
    return classes


def rank_files(pred_probs: list, labels_path, out_dir, cfg: RankConfig, *, label_col=None,
               classes_path=None, id_col=None) -> dict:
    """`rank --pred-probs P.npy [...] --labels L --out DIR`: the user's own probabilities (several
    files are averaged) with labels from a `.npy` or a manifest column."""
    classes = read_classes_file(classes_path) if classes_path else None
    from cleanlab_lite.scoring._source import as_source

    k = int(as_source(list(pred_probs)).shape[-1])   # a bad shape is named by rank_arrays
    labels, classes, ids = read_labels_file(labels_path, label_col, classes, k, id_col)
    pp = pred_probs[0] if len(pred_probs) == 1 else list(pred_probs)
    return rank_arrays(pp, labels, out_dir, cfg, classes=classes, ids=ids,
                       inputs=[(labels_path, "the labels file"), (classes_path, "the classes file")])
