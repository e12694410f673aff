"""A self-contained HTML report of a ranked run folder, and PNG plots beside it.

`build_report(run)` reads the run's ranking, summary.json, metrics.json, classes.json,
rows.parquet and config.yaml (all but the ranking optional) and writes RUN/report.html with:

- the warnings summary.json carries (flags that cannot be trusted), as a banner on top;
- the sampled estimate of how many flags are real errors (when `review --sample` decisions exist);
- every flagged row (and the `top` most suspect when fewer are flagged), in the review controls
  `clean-labels review` uses (cleanlab_lite.pages): a grid grouped by (given -> suggested) pair
  with each class's typical images for images, a list with the row's values for tables, paged,
  filterable, with decisions kept in the browser's local storage and a "download decisions.csv"
  link (there is no server to save them);
- per-class issue rates and out-of-fold accuracy per class;
- the estimated noise matrix as a heatmap, and the most common estimated label confusions.

The page fetches nothing: images are data: URIs and a Content-Security-Policy forbids any other
source. The page is a Jinja2 template with autoescaping; the one inline script (the review
controls) is allowed by its sha256 hash and builds every card with textContent.
"""
from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cleanlab_lite import __version__
from cleanlab_lite.check import CheckConfig, evaluate
from cleanlab_lite.guards import check_output
from cleanlab_lite.io import atomic_path, write_text
from cleanlab_lite.pages import asset, render, review_script, script_hash
from cleanlab_lite.pages.items import (
    class_strips,
    image_source,
    review_items,
    thumbnail_data_uri,
)
from cleanlab_lite.precision import run_estimate
from cleanlab_lite.run import Run

HEATMAP_TABLE_MAX_K = 20   # classes: above this the noise matrix is shown only as the PNG heatmap
BAR_MAX_CLASSES = 40       # classes shown in the per-class bar charts (highest rates first)


@dataclass
class ReportResult:
    run: Path
    html_path: Path
    plots: list[Path]
    kind: str
    n: int
    k: int
    flagged: int
    shown: int
    missing_images: int = 0
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# reading the run folder


def oof_per_class(metrics: dict | None, classes: list[str], ranking: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold accuracy (recall of the given label), precision and F1 per class.

    Taken from metrics.json's `oof.per_class` ({class: {recall, precision, f1}}, as train writes
    it) when present; accuracy falls back to predicted_label == given_label in ranking.csv, which
    is the same quantity for runs ranked from the user's own pred_probs (no metrics.json)."""
    out = pd.DataFrame(index=pd.Index(classes, name="class"),
                       columns=["accuracy", "precision", "f1"], dtype=float)
    per = ((metrics or {}).get("oof") or {}).get("per_class") or {}
    for name, vals in per.items():
        if str(name) in out.index:
            out.loc[str(name)] = [vals.get("recall"), vals.get("precision"), vals.get("f1")]
    if out["accuracy"].isna().any() and "predicted_label" in ranking.columns:
        hit = (ranking["predicted_label"].astype(str) == ranking["given_label"].astype(str))
        acc = hit.groupby(ranking["given_label"].astype(str)).mean()
        fill = acc.reindex(out.index)
        out["accuracy"] = out["accuracy"].fillna(fill)
    return out


def canonical_noise_matrix(summary: dict[str, Any], k: int) -> np.ndarray | None:
    """(K, K) P(given = i | true = j), columns summing to 1 (cleanlab's orientation, as rank
    writes it), or None when summary.json has none for these K classes."""
    nm = summary.get("noise_matrix")
    if nm is None:
        return None
    m = np.asarray(nm, dtype=float)
    return m if m.shape == (k, k) and np.isfinite(m).all() else None


def top_confusions(summary: dict[str, Any], classes: list[str], limit: int = 10) -> list[tuple]:
    """[(given, likely true, count)] from the confident joint's largest off-diagonal cells."""
    cj = summary.get("confident_joint")
    k = len(classes)
    try:
        m = np.asarray(cj, dtype=float)
    except (TypeError, ValueError):
        return []
    if m.shape != (k, k):
        return []
    m = m.copy()
    np.fill_diagonal(m, 0)
    flat = np.argsort(m, axis=None)[::-1][:limit]
    i, j = np.unravel_index(flat, m.shape)
    return [(classes[a], classes[b], m[a, b]) for a, b in zip(i, j) if m[a, b] > 0]


# ----------------------------------------------------------------------------------------------
# plots (matplotlib, Agg backend: no display needed)


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path | None) -> bytes:
    """The figure as PNG bytes, also written to `path` unless it is None (build_report writes
    its plots itself, once the page is built)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    data = buf.getvalue()
    if path is not None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return data


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def plot_class_rates(per_class: pd.DataFrame, path: Path | None) -> bytes:
    plt = _plt()
    top = per_class.sort_values("rate", ascending=False).head(BAR_MAX_CLASSES)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(top) + 1.2))
    ax.barh([_short(c) for c in top.index], 100 * top["rate"], color="#d9534f")
    ax.set_xlabel("rows flagged as label issues (%)")
    more = f" (highest {BAR_MAX_CLASSES} of {len(per_class)})" if len(per_class) > len(top) else ""
    ax.set_title("Issue rate per class" + more)
    return _save(fig, path)


def plot_oof_accuracy(acc: pd.Series, path: Path | None) -> bytes:
    plt = _plt()
    acc = acc.dropna().sort_values().head(BAR_MAX_CLASSES)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(acc) + 1.2))
    ax.barh([_short(c) for c in acc.index], 100 * acc.to_numpy(float), color="#337ab7")
    ax.set_xlim(0, 100)
    ax.set_xlabel("out-of-fold accuracy on the given labels (%)")
    ax.set_title("Out-of-fold accuracy per class" + (" (lowest shown)" if len(acc) == BAR_MAX_CLASSES else ""))
    return _save(fig, path)


def _off_diagonal_max(nm: np.ndarray) -> float:
    off = nm[~np.eye(len(nm), dtype=bool)]
    return float(off.max()) if off.size and off.max() > 0 else 1.0


def plot_noise_matrix(nm: np.ndarray, classes: list[str], path: Path | None) -> bytes:
    """Heatmap of the off-diagonal cells (the diagonal, near 1, would flatten the colour range);
    diagonal values are written in grey cells."""
    plt = _plt()
    k = len(classes)
    side = min(12, 2.5 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    masked = np.ma.masked_array(nm, mask=np.eye(k, dtype=bool))
    cmap = plt.get_cmap("Reds").with_extremes(bad="#e6e6e6")
    im = ax.imshow(masked, cmap=cmap, vmin=0, vmax=_off_diagonal_max(nm))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="P(given | true), off-diagonal")
    if k <= 30:
        ax.set_xticks(range(k), [_short(c, 14) for c in classes], rotation=60, ha="right")
        ax.set_yticks(range(k), [_short(c, 14) for c in classes])
    if k <= 12:
        top = _off_diagonal_max(nm)
        for i in range(k):
            for j in range(k):
                dark = i != j and nm[i, j] > 0.6 * top
                ax.text(j, i, f"{nm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.set_xlabel("true label (estimated)")
    ax.set_ylabel("given label")
    ax.set_title("Estimated noise matrix (diagonal in grey)")
    return _save(fig, path)


def plot_quality_hist(ranking: pd.DataFrame, path: Path | None) -> bytes:
    plt = _plt()
    q = ranking["label_quality"].to_numpy(float)
    flagged = ranking["is_label_issue"].to_numpy(bool)
    fig, ax = plt.subplots(figsize=(7, 3))
    bins = np.linspace(0, 1, 41)
    ax.hist(q[~flagged & np.isfinite(q)], bins=bins, color="#5cb85c", label="not flagged")
    ax.hist(q[flagged & np.isfinite(q)], bins=bins, color="#d9534f", label="flagged")
    ax.set_yscale("log")
    ax.set_xlabel("label quality (lower = more likely wrong)")
    ax.set_ylabel("rows")
    ax.legend()
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------
# HTML (cleanlab_lite/pages/templates/report.html)


def _pct(x: Any) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(x) else f"{100 * x:.1f}%"


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _heat_color(v: float, top: float, diagonal: bool) -> str:
    """Diagonal cells grey; off-diagonal cells red, scaled to the largest off-diagonal value."""
    if diagonal:
        return "background:#e6e6e6;color:#222"
    a = min(max(v / top, 0.0), 1.0)
    return f"background:rgba(217,83,79,{0.04 + 0.96 * a:.3f});color:{'#fff' if a > 0.6 else '#222'}"


def heat_table(nm: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """The noise matrix as template cells: short header names, per-row cells with style and title."""
    top = _off_diagonal_max(nm)
    rows = [{"name": _short(c, 24), "cells": [
        {"style": _heat_color(nm[i, j], top, i == j), "text": f"{nm[i, j]:.2f}",
         "title": f"P(given={c} | true={classes[j]}) = {nm[i, j]:.3f}"} for j in range(len(classes))]}
        for i, c in enumerate(classes)]
    return {"short": [_short(c, 14) for c in classes], "rows": rows}


def per_class_cells(per_class: pd.DataFrame) -> list[dict[str, Any]]:
    """The per-class table's rows, highest issue rate first, as formatted text."""
    out = []
    for name, r in per_class.sort_values("rate", ascending=False).iterrows():
        est = r["estimated_issues"]
        out.append({"name": name, "rows": int(r["rows"]), "flagged": int(r["flagged"]),
                    "bar": f"{min(100.0, 100 * float(r['rate'])) * 0.8:.1f}", "rate": _pct(r["rate"]),
                    "estimated": "–" if pd.isna(est) else int(est), "accuracy": _pct(r["accuracy"]),
                    "precision": _pct(r["precision"]), "f1": _pct(r["f1"])})
    return out


def estimate_view(est) -> dict[str, Any] | None:
    """The sampled estimate (cleanlab_lite.precision.Estimate) for the template, or None."""
    if est is None:
        return None
    bands = [{**vars(b), "text": (f"{100 * b.share:.0f}% ({100 * b.low:.0f}–{100 * b.high:.0f}%)"
                                  if b.reviewed else "–")} for b in est.bands]
    return {"line": est.line()[0].upper() + est.line()[1:] + ".", "bands": bands if est.reviewed else []}


# ----------------------------------------------------------------------------------------------
# the command


def per_class_table(ranking: pd.DataFrame, classes: list[str], summary: dict, metrics) -> pd.DataFrame:
    """Rows, flagged, issue rate, estimated issues and out-of-fold accuracy per class."""
    _, results, _ = evaluate(ranking, classes, CheckConfig(), np.zeros(len(ranking), bool))
    names = [c.name for c in results]
    per_class = pd.DataFrame({"rows": [c.rows for c in results],
                              "flagged": [c.flagged for c in results],
                              "rate": [c.rate for c in results]}, index=pd.Index(names))
    est = {str(p.get("class")): p.get("estimated_issues")
           for p in summary.get("per_class") or [] if isinstance(p, dict)}
    per_class["estimated_issues"] = pd.Series(est, dtype=float).reindex(per_class.index)
    return per_class.join(oof_per_class(metrics, names, ranking))


def listed_rows(ranking: pd.DataFrame, top: int) -> pd.DataFrame:
    """Every flagged row, and the `top` most suspect rows when fewer are flagged, in ranking order."""
    flagged = ranking["is_label_issue"].to_numpy(bool)
    keep = flagged | (np.arange(len(ranking)) < top)
    return ranking[keep].reset_index(drop=True)


def attach_thumbnails(items: list[dict], strips: dict[str, list[int]], paths: dict[int, Path],
                      size: int, progress: bool | None) -> dict[int, str]:
    """Embed each listed row's image as a data: URI (item['image']); a row whose image cannot be
    read gets item['image_error']. Returns {row: data URI} for the listed and the strip rows."""
    from tqdm.auto import tqdm

    wanted = sorted({it["row"] for it in items} | {r for rows in strips.values() for r in rows})
    uris: dict[int, str] = {}
    errors: dict[int, str] = {}
    for row in tqdm(wanted, desc="thumbnails", unit="img", leave=False,
                    disable=None if progress is None else not progress):
        path = paths.get(row)
        if path is None:
            errors[row] = "no path"
            continue
        try:
            uris[row] = thumbnail_data_uri(path, size)
        except (OSError, ValueError) as e:
            errors[row] = f"cannot open {path.name} ({type(e).__name__})"
    for it in items:
        it["image"] = uris.get(it["row"], "")
        if not it["image"]:
            it["image_error"] = errors.get(it["row"], "no image")
    return uris


def plots_for(per_class: pd.DataFrame, ranking: pd.DataFrame, nm, classes) -> dict[str, tuple[str, bytes]]:
    """{file name: (alt text, PNG bytes)} of the report's plots, in page order."""
    out = {"issue_rate_per_class.png": ("issue rate per class", plot_class_rates(per_class, None))}
    if per_class["accuracy"].notna().any():
        out["oof_accuracy_per_class.png"] = ("out-of-fold accuracy per class",
                                             plot_oof_accuracy(per_class["accuracy"], None))
    out["label_quality_hist.png"] = ("label quality histogram", plot_quality_hist(ranking, None))
    if nm is not None:
        out["noise_matrix.png"] = ("estimated noise matrix heatmap", plot_noise_matrix(nm, classes, None))
    return out


def build_report(run: str | os.PathLike, *, out: str | os.PathLike | None = None, top: int = 50,
                 thumb_size: int = 96, progress: bool | None = None) -> ReportResult:
    """Write report.html (default RUN/report.html) and its PNG plots beside it."""
    folder = Run(run)
    run = folder.path
    ranking = folder.read_ranking()
    summary = folder.read_summary()
    classes = folder.class_names(ranking)
    metrics = folder.read_metrics()
    config = folder.read_config(required=False)
    rows = folder.read_rows()
    html_path = check_output(out if out is not None else folder.report_path, "--out", run=folder,
                             suffixes=(".html", ".htm"), own=folder.report_path)
    notes: list[str] = []
    png_dir = html_path.parent
    if os.path.realpath(png_dir) in folder.data_folders():
        png_dir = None
        notes.append(f"{html_path.parent} holds this run's data, so the plots were not written there "
                     f"as PNG files (they are in the page).")

    per_class = per_class_table(ranking, classes, summary, metrics)
    items, kind_shown = review_items(folder, ranking, classes, listed_rows(ranking, top))
    strips, missing = _images(folder, ranking, classes, items, thumb_size, progress, notes)
    if rows is None:
        notes.append("RUN/rows.parquet is missing, so row values are not shown.")
    kind = config.get("kind") or ("image" if kind_shown == "image" else
                                  "tabular" if rows is not None else "pred_probs")

    nm = canonical_noise_matrix(summary, len(classes))
    pngs = plots_for(per_class, ranking, nm, classes)
    n, flagged = len(ranking), int(ranking["is_label_issue"].sum())
    page = render(
        "report_page.html", title=f"clean-labels report: {run.resolve().name}",
        csp=(f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
             f"script-src {script_hash(review_script())}; base-uri 'none'; form-action 'none'"),
        css=asset("report.css") + asset("review.css"), script=review_script(),
        warnings=[w["message"] for w in summary.get("warnings") or [] if isinstance(w, dict)],
        cards=_cards(summary, metrics, ranking, per_class, n, flagged),
        estimate=estimate_view(run_estimate(folder, ranking)), notes=notes, listed=len(items),
        flagged=flagged,
        review={"run_key": str(run.resolve()), "classes": classes, "items": items,
                "has_id": "id" in ranking.columns, "kind": kind_shown, "strips": strips},
        where=(f"Decisions stay in this browser; download decisions.csv, then apply it with "
               f"`clean-labels export {run} --decisions decisions.csv`, or use `clean-labels review "
               f"{run}`, which saves them into the run folder."),
        per_class=per_class_cells(per_class),
        heat=heat_table(nm, classes) if nm is not None and len(classes) <= HEATMAP_TABLE_MAX_K else None,
        heat_png=_png_uri(pngs["noise_matrix.png"][1]) if nm is not None else None,
        confusions=top_confusions(summary, classes),
        plots=[(alt, _png_uri(data)) for alt, data in pngs.values()], footer=_footer(run, kind, summary))
    plot_files = _write_plots(png_dir, pngs)
    write_text(html_path, page)
    return ReportResult(run=run, html_path=html_path, plots=plot_files, kind=kind, n=n,
                        k=len(per_class), flagged=flagged, shown=len(items), missing_images=missing,
                        notes=notes)


def _write_plots(folder: Path | None, pngs: dict[str, tuple[str, bytes]]) -> list[Path]:
    """Each plot as a PNG file in `folder` (none when it is None); the paths written."""
    if folder is None:
        return []
    for name, (_, data) in pngs.items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
    return [folder / name for name in pngs]


def _images(folder: Run, ranking, classes, items, size: int, progress, notes: list[str]):
    """For an image run: embed the listed rows' thumbnails (a note when some cannot be read)
    and return ({class: [{row, image}]} typical-image strips, images missing); ({}, 0) else."""
    from cleanlab_lite.pages.items import image_paths

    if not items or "path" not in items[0]:
        return {}, 0
    config, rows = folder.read_config(required=False), folder.read_rows()
    strips = class_strips(folder, ranking, classes)
    paths = image_paths(config, rows, folder.path)
    uris = attach_thumbnails(items, strips, paths, size, progress)
    missing = sum(1 for it in items if not it["image"])
    if missing:
        notes.append(f"{missing} of {len(items)} images could not be opened (moved or deleted "
                     f"since training; data root {image_source(config, rows, folder.path)[1]}).")
    return {c: [{"row": r, "image": uris.get(r, "")} for r in rs] for c, rs in strips.items()}, missing


def _cards(summary, metrics, ranking, per_class, n: int, flagged: int) -> list[tuple[str, str]]:
    acc = ((metrics or {}).get("oof") or {}).get("accuracy")
    if acc is None and "predicted_label" in ranking.columns:
        acc = float((ranking["predicted_label"].astype(str) == ranking["given_label"]).mean())
    cards = [("rows", f"{n:,}"), ("classes", str(len(per_class))),
             ("flagged as label issues", f"{flagged:,} ({_pct(flagged / n if n else 0)})")]
    if isinstance(summary.get("estimated_noise_rate"), (int, float)):
        cards.append(("estimated noise rate", _pct(summary["estimated_noise_rate"])))
    if isinstance(acc, (int, float)):
        cards.append(("out-of-fold accuracy", _pct(acc)))
    return cards


def _footer(run: Path, kind: str, summary: dict) -> str:
    method = summary.get("method")
    return (f"clean-labels {__version__} · run {run} · {kind} data"
            + (f" · score {method}" if method else "")
            + (f" · flags {summary['filter_by']}" if summary.get("filter_by") else ""))


def summary_text(result: ReportResult) -> str:
    """The one-screen summary `clean-labels report` prints."""
    lines = [f"Report: {result.html_path}",
             f"  {result.shown:,} rows listed, {result.flagged:,} flagged of {result.n:,} "
             f"({result.kind} run, {result.k} classes)"]
    est = run_estimate(Run(result.run))
    if est is not None:
        lines.append(f"  {est.line()}")
    if result.plots:
        lines.append(f"  plots beside it: {', '.join(p.name for p in result.plots)}")
    lines += [f"  note: {n}" for n in result.notes]
    run = result.run
    lines.append(f"Next: open it in a browser; gate CI with `clean-labels check {run} "
                 f"--max-issue-rate 2%`, or drop suspects with `clean-labels export {run} "
                 f"--drop-flagged`.")
    return "\n".join(lines)
