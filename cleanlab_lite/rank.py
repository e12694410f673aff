"""The rank stage: score every row, flag likely label errors, estimate the noise, and write
RUN/ranking.csv (most suspect first) and RUN/summary.json.

Two entry points: `rank_run(RUN, cfg)` on a train run folder, and `rank_arrays(pred_probs,
labels, OUT, cfg)` on out-of-fold probabilities from the user's own model. Both read
pred_probs.npy in chunks (never whole), so the file may be larger than memory.

ranking.csv is written with pyarrow's CSV writer straight from columnar arrays (one million
rows in well under a second); class names are a dictionary take, not a per-row Python loop.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from cleanlab_lite.config import RankConfig, to_dict
from cleanlab_lite.errors import ConfigError, LabelsError, PredProbsError, RunFolderError
from cleanlab_lite.io import atomic_path, check_input_file, read_run_config, write_json
from cleanlab_lite.scoring import count as cl_count
from cleanlab_lite.scoring.api import issues_from, scores_from
from cleanlab_lite.scoring.engine import Engine, check_labels

CSV_BLOCK_ROWS = 200_000    # rows per CSV block formatted on one thread
DECIMALS = 6                # ranking.csv float columns (short strings format 3x faster)
COLUMNS = ("row", "id", "given_label", "predicted_label", "suggested_label", "label_quality",
           "is_label_issue", "suggested_confidence")


def resolve_device(device: str) -> str:
    if device == "cpu":
        return "cpu"
    try:
        import torch
        ok = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        ok = False
    if device == "auto":
        return "cuda" if ok else "cpu"
    if not ok:
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; "
                          "use --device cpu (or auto)")
    return "cuda"


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
    if cfg.estimation_method == "off_diagonal":
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
            "device": eng.device}


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
def write_ranking(path: Path, res: dict, classes: list, rows: np.ndarray, ids=None) -> None:
    """ranking.csv, most suspect first. Row blocks are turned into small pyarrow tables and
    formatted to CSV bytes on a thread pool (pyarrow releases the GIL; float formatting is the
    cost), then appended in order: memory stays at a few blocks, whatever N."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.csv as pacsv

    order = ranking_order(res["scores"], res["issues"])
    names = pa.array([str(c) for c in classes], type=pa.string())
    rows = np.asarray(rows, dtype=np.int64)
    if ids is not None and not isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = pa.array(np.asarray(ids, dtype=object))
    n = len(order)
    step = CSV_BLOCK_ROWS

    def block(start: int) -> bytes:
        o = order[start:start + step]
        cols = {"row": pa.array(rows[o])}
        if ids is not None:
            cols["id"] = ids.take(pa.array(o)).cast(pa.string())
        for col, key in (("given_label", "labels"), ("predicted_label", "predicted"),
                         ("suggested_label", "suggested")):
            cols[col] = names.take(pa.array(res[key][o]))
        cols["label_quality"] = pa.array(np.round(res["scores"][o], DECIMALS))
        cols["is_label_issue"] = pa.array(res["issues"][o])
        cols["suggested_confidence"] = pa.array(np.round(res["suggested_confidence"][o], DECIMALS))
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.table(cols), sink,
                        pacsv.WriteOptions(include_header=start == 0, quoting_style="needed"))
        return sink.getvalue()

    starts = list(range(0, max(n, 1), step))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
            for buf in ex.map(block, starts):
                f.write(buf)


def build_summary(res: dict, cfg: RankConfig, classes: list, seconds: dict, source: str) -> dict:
    n = res["n"]
    est = res["estimated_off_diagonal"] if cfg.estimation_method == "off_diagonal" \
        else res["estimated_calibrated"]
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
        "device": res["device"], "pred_probs": source,
        "config": to_dict(cfg), "seconds": seconds,
    }


def _finish(out: Path, res: dict, cfg: RankConfig, classes, rows, ids, t0: float, t_score: float,
            source: str, quiet: bool) -> dict:
    if len(classes) != res["k"]:
        raise LabelsError(f"there are {len(classes)} class names but pred_probs has {res['k']} "
                          "columns; pass one class name per pred_probs column, in column order")
    import pyarrow.csv  # noqa: F401  (import time is not write time)
    t1 = time.perf_counter()
    write_ranking(out / "ranking.csv", res, classes, rows, ids)
    t2 = time.perf_counter()
    seconds = {"score": round(t_score - t0, 4), "write": round(t2 - t1, 4)}
    summary = build_summary(res, cfg, classes, seconds, source)
    write_json(out / "summary.json", summary)
    summary["seconds"]["total"] = round(time.perf_counter() - t0, 4)
    if not quiet:
        print(f"rank: {summary['num_flagged']} of {summary['n']} rows flagged "
              f"({cfg.filter_by}); estimated noise rate {summary['estimated_noise_rate']:.1%}; "
              f"wrote {out / 'ranking.csv'} and summary.json")
    return summary


# ---- entry points ---------------------------------------------------------------------------
def _read_json_list(path: Path, what: str) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunFolderError(f"{path} cannot be read as JSON ({e}); {what}") from None
    if not isinstance(data, list) or not data:
        raise RunFolderError(f"{path} must be a JSON list of class names; {what}")
    return data


def labels_from_values(values, classes: list | None, k: int, where: str) -> tuple[np.ndarray, list]:
    """Map label values (names or integer indices) to class indices; returns (labels, classes).
    Float values must be whole numbers (3.0 is class 3; 2.5 is an error, not a class name)."""
    vals = np.asarray(values)
    if vals.dtype.kind == "f":
        bad = ~np.isfinite(vals) | (vals != np.round(vals))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LabelsError(f"{where}, row {i}: label {float(vals[i])!r} is not a whole number; labels "
                              "are class indices (0..K-1) or class names")
    if classes is not None:
        index = {str(c): i for i, c in enumerate(classes)}
        keys = vals.astype(str) if vals.dtype.kind != "f" else np.array(
            [str(int(v)) if float(v).is_integer() else str(v) for v in vals])
        uniq, inv = np.unique(keys, return_inverse=True)
        missing = [u for u in uniq if u not in index]
        if missing:
            raise LabelsError(f"{where}: label {missing[0]!r} is not one of the {len(classes)} classes "
                              f"({', '.join(map(str, classes[:5]))}{', ...' if len(classes) > 5 else ''}); "
                              "fix the label column or the class list")
        return np.array([index[u] for u in uniq], dtype=np.int64)[inv], list(classes)
    if vals.dtype.kind in "iu" or (vals.dtype.kind == "f" and np.all(np.isfinite(vals))
                                   and np.all(vals == np.round(vals))):
        return check_labels(vals, len(vals), k, name=where), [str(i) for i in range(k)]
    names = np.unique(vals.astype(str))
    if len(names) != k:
        raise LabelsError(f"{where}: {len(names)} distinct label names but pred_probs has {k} columns; "
                          "pass --classes classes.json listing the class of each column in order")
    return labels_from_values(vals.astype(str), list(names), k, where)


def rank_run(run_dir, cfg: RankConfig | None = None, *, quiet: bool = False) -> dict:
    """Rank a train run folder: reads pred_probs.npy (in chunks), labels.npy (or rows.parquet +
    the label column), classes.json; writes ranking.csv and summary.json into it."""
    t0 = time.perf_counter()
    cfg = cfg or RankConfig()   # checked when made (config.RULES)
    run = Path(run_dir)
    if not run.is_dir():
        raise RunFolderError(f"run folder {run} not found; pass the --out folder of `clean-labels train`")
    pp = run / "pred_probs.npy"
    if not pp.is_file():
        raise RunFolderError(f"run folder {run} has no pred_probs.npy; run `clean-labels train "
                             f"MANIFEST --out {run}` to the end first (or pass --pred-probs)")
    cpath = run / "classes.json"
    if not cpath.is_file():
        raise RunFolderError(f"run folder {run} has no classes.json; rerun `clean-labels train`")
    classes = _read_json_list(cpath, "rerun train to rewrite it")
    rcfg = read_run_config(run, required=False)
    data = rcfg.get("data") or {}
    id_col = data.get("id_col")
    rows_path = run / "rows.parquet"
    want = ["row"] + ([id_col] if id_col else [])
    table = None
    if rows_path.is_file():
        import pyarrow.parquet as pq
        names = pq.read_schema(rows_path).names
        cols = [c for c in want if c in names]
        lpath = run / "labels.npy"
        label_col = data.get("label_col", "label")
        if not lpath.is_file():
            if label_col not in names:
                raise RunFolderError(f"{rows_path} has no label column {label_col!r} and {run} has no "
                                     "labels.npy; rerun `clean-labels train`")
            cols.append(label_col)
        table = pq.read_table(rows_path, columns=cols)
    lpath = run / "labels.npy"
    if lpath.is_file():
        try:
            labels = np.load(lpath, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise LabelsError(f"{lpath} cannot be read ({e}); rerun `clean-labels train`") from None
    elif table is not None:
        labels, _ = labels_from_values(table.column(data.get("label_col", "label")).to_numpy(
            zero_copy_only=False), classes, len(classes), str(rows_path))
    else:
        raise RunFolderError(f"run folder {run} has neither labels.npy nor rows.parquet; "
                             "rerun `clean-labels train`")
    labels = _labels_for(labels, pp, str(lpath))
    n = len(labels)
    rows = np.arange(n)
    ids = None
    if table is not None:
        if table.num_rows != n:
            raise RunFolderError(f"{rows_path} has {table.num_rows} rows but labels has {n}; "
                                 "the run folder is inconsistent, rerun `clean-labels train`")
        if "row" in table.column_names:
            rows = table.column("row").to_numpy()
        if id_col and id_col in table.column_names:
            ids = table.column(id_col)
    res = score(labels, pp, cfg)
    return _finish(run, res, cfg, classes, rows, ids, t0, time.perf_counter(), str(pp), quiet)


def _labels_for(labels, pred_probs, name: str) -> np.ndarray:
    """Validate labels against pred_probs' shape, naming the labels file in errors."""
    from cleanlab_lite.scoring._source import as_source
    src = as_source(pred_probs)
    if len(src.shape) != 2:
        raise PredProbsError(f"{src.name} has shape {src.shape}; pred_probs must be 2-D (N, K)")
    return check_labels(labels, src.shape[0], src.shape[1], name=name)


def rank_arrays(pred_probs, labels, out_dir, cfg: RankConfig | None = None, classes=None, ids=None,
                *, quiet: bool = False) -> dict:
    """Rank out-of-fold probabilities from the user's own model (no run folder).

    pred_probs: (N, K) array, `.npy` path, or a list of those (averaged). labels: (N,) ints.
    Writes OUT/ranking.csv and OUT/summary.json; returns the summary dict.
    """
    t0 = time.perf_counter()
    cfg = cfg or RankConfig()   # checked when made (config.RULES)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder for ranking.csv and summary.json")
    labels = _labels_for(labels, pred_probs, "labels")
    k = _k_of(pred_probs)
    classes = list(classes) if classes is not None else [str(i) for i in range(k)]
    if ids is not None and len(ids) != len(labels):
        raise LabelsError(f"the id column has {len(ids)} values but labels has {len(labels)}; "
                          "they must describe the same rows")
    res = score(labels, pred_probs, cfg)
    src = pred_probs if isinstance(pred_probs, (str, Path)) else (
        [str(p) for p in pred_probs] if isinstance(pred_probs, (list, tuple)) else "array")
    return _finish(out, res, cfg, classes, np.arange(len(labels)), ids, t0, time.perf_counter(),
                   str(src), quiet)


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
