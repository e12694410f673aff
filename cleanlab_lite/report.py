"""A self-contained HTML report of a ranked run folder, and PNG plots beside it.

`build_report(run)` reads RUN/ranking.csv, summary.json, metrics.json, classes.json,
rows.parquet and config.yaml (all but ranking.csv optional) and writes RUN/report.html with:

- the most suspect rows: thumbnail (image runs, embedded as base64) or the row's values
  (tabular / embedding runs), given label, suggested label, label quality score;
- per-class issue rates and out-of-fold accuracy per class;
- the estimated noise matrix as a heatmap, and the most common estimated label confusions;
- "Review these N rows": the review controls of `clean-labels review` (cleanlab_lite.review_page)
  over the rows shown, with decisions kept in the browser's local storage and a "download
  decisions.csv" link (there is no server to save them).

The page fetches nothing: images are data: URIs and a Content-Security-Policy forbids any other
source, so a stray external reference shows as a console error instead of a silent request.
Every label, path and value is HTML-escaped. The one inline script (a filter box) is allowed by
its sha256 hash.
"""
from __future__ import annotations

import base64
import html
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
from cleanlab_lite.run import Run

HEATMAP_TABLE_MAX_K = 20   # classes: above this the noise matrix is shown only as the PNG heatmap
BAR_MAX_CLASSES = 40       # classes shown in the per-class bar charts (highest rates first)
MAX_VALUE_COLS = 8         # tabular rows: values shown per row before "+N more"
SMALL_IMAGE = 64           # pixels: images this small are upscaled crisply and kept as PNG


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
# thumbnails and row values


def _to_rgb(img):
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("RGB")


def thumbnail_data_uri(path: Path, size: int) -> str:
    """A data: URI of the image at `path`, fitted into size x size pixels."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        rgb = _to_rgb(img)
    w, h = rgb.size
    small = max(w, h) <= SMALL_IMAGE
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    rgb = rgb.resize(new, Image.NEAREST if small and scale > 1 else Image.LANCZOS)
    buf = io.BytesIO()
    if small:
        rgb.save(buf, format="PNG", optimize=True)
        mime = "image/png"
    else:
        rgb.save(buf, format="JPEG", quality=85)
        mime = "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _image_source(config: dict[str, Any], rows: pd.DataFrame | None, run: Path):
    """(path column, data root) for an image run, else None."""
    data = config.get("data") or {}
    col = data.get("path_col") or "path"
    kind = config.get("kind")
    if rows is None or col not in rows.columns or kind not in (None, "image"):
        return None
    root = data.get("data_root")
    return col, Path(root) if root else run


def _format_value(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_format_value(x) for x in list(v)[:4]) + (", …]" if len(v) > 4 else "]")
    text = str(v)
    return text if len(text) <= 40 else text[:39] + "…"


def value_columns(rows: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    """The input columns worth showing for a tabular row: not bookkeeping, not the label."""
    data = config.get("data") or {}
    skip = {"row", "fold", data.get("label_col") or "label", data.get("id_col"),
            data.get("group_col"), data.get("weight_col")}
    feats = data.get("feature_cols")
    cols = [c for c in (feats or rows.columns) if c in rows.columns and c not in skip]
    return cols


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
# HTML


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;
  max-width:1200px}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:1.5em}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #e3e3e3;padding:4px 8px;
  text-align:left;vertical-align:middle}th{background:#f6f6f6}td.num{text-align:right;
  font-variant-numeric:tabular-nums}
tr.flagged td.score{color:#b52b27;font-weight:600}
td.thumb img{display:block;image-rendering:pixelated}
.values{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;white-space:pre-wrap}
.heat td{text-align:center;min-width:36px;font-size:.8em}
.bar{display:inline-block;height:10px;background:#d9534f;vertical-align:middle;margin-right:6px}
.plots img{max-width:100%;border:1px solid #eee;margin:6px 0}
#filter{padding:4px 8px;width:260px}
"""

SCRIPT = """
(function () {
  var box = document.getElementById('filter');
  var only = document.getElementById('only-flagged');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.worst-row'));
  var shown = document.getElementById('shown');
  function apply() {
    var q = box.value.trim().toLowerCase();
    var n = 0;
    rows.forEach(function (r) {
      var ok = (!q || r.getAttribute('data-search').indexOf(q) >= 0) &&
               (!only.checked || r.classList.contains('flagged'));
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = String(n);
  }
  var m = /^#filter=(.*)$/.exec(window.location.hash);
  if (m) { box.value = decodeURIComponent(m[1]); }
  box.addEventListener('input', apply);
  only.addEventListener('change', apply);
  apply();
  document.body.setAttribute('data-ready', 'true');
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(x: Any) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(x) else f"{100 * x:.1f}%"


def _img(data: bytes, alt: str) -> str:
    return (f'<img alt="{_e(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(data).decode("ascii")}">')


def _heat_color(v: float, top: float, diagonal: bool) -> str:
    """Diagonal cells grey; off-diagonal cells red, scaled to the largest off-diagonal value."""
    if diagonal:
        return "background:#e6e6e6;color:#222"
    a = min(max(v / top, 0.0), 1.0)
    return f"background:rgba(217,83,79,{0.04 + 0.96 * a:.3f});color:{'#fff' if a > 0.6 else '#222'}"


def _worst_rows_html(worst: pd.DataFrame, cells: list[str], kind_label: str) -> str:
    has_id = "id" in worst.columns
    head = ("<tr><th>#</th>" + ("<th>id</th>" if has_id else "") + f"<th>row</th><th>{kind_label}</th>"
            "<th>given label</th><th>suggested label</th><th>label quality</th>"
            "<th>flagged</th></tr>")
    body = []
    for rank, (rec, cell) in enumerate(zip(worst.to_dict("records"), cells), start=1):
        flagged = bool(rec["is_label_issue"])
        search = " ".join(str(rec.get(c, "")) for c in ("id", "given_label", "suggested_label",
                                                          "predicted_label", "row")).lower()
        conf = rec.get("suggested_confidence")
        conf_txt = (f'<br><span class="muted">conf. {float(conf):.2f}</span>'
                    if isinstance(conf, (int, float, np.floating)) and np.isfinite(conf) else "")
        body.append(
            f'<tr class="worst-row{" flagged" if flagged else ""}" data-search="{_e(search)}">'
            f'<td class="num">{rank}</td>' + (f"<td>{_e(rec['id'])}</td>" if has_id else "")
            + f'<td class="num">{int(rec["row"])}</td><td class="{cell[0]}">{cell[1]}</td>'
            f'<td>{_e(rec["given_label"])}</td><td>{_e(rec.get("suggested_label", ""))}{conf_txt}</td>'
            f'<td class="num score">{float(rec["label_quality"]):.4f}</td>'
            f'<td>{"yes" if flagged else "no"}</td></tr>')
    return f'<table id="worst">{head}{"".join(body)}</table>'


def _per_class_html(per_class: pd.DataFrame) -> str:
    head = ("<tr><th>class</th><th>rows</th><th>flagged</th><th>issue rate</th>"
            "<th>estimated issues</th><th>out-of-fold accuracy</th><th>precision</th>"
            "<th>F1</th></tr>")
    body = []
    for name, r in per_class.sort_values("rate", ascending=False).iterrows():
        est = r["estimated_issues"]
        body.append(
            f'<tr class="class-row"><td>{_e(name)}</td><td class="num">{int(r["rows"])}</td>'
            f'<td class="num">{int(r["flagged"])}</td><td class="num">'
            f'<span class="bar" style="width:{min(100.0, 100 * float(r["rate"])) * 0.8:.1f}px"></span>'
            f'{_pct(r["rate"])}</td>'
            f'<td class="num">{"–" if pd.isna(est) else int(est)}</td>'
            f'<td class="num">{_pct(r["accuracy"])}</td><td class="num">{_pct(r["precision"])}</td>'
            f'<td class="num">{_pct(r["f1"])}</td></tr>')
    return f'<table id="per-class">{head}{"".join(body)}</table>'


def _heatmap_html(nm: np.ndarray, classes: list[str]) -> str:
    top = _off_diagonal_max(nm)
    head = ('<tr><th>given ↓ / true →</th>'
            + "".join(f"<th>{_e(_short(c, 14))}</th>" for c in classes) + "</tr>")
    body = []
    for i, c in enumerate(classes):
        cells = "".join(f'<td style="{_heat_color(nm[i, j], top, i == j)}" title="P(given={_e(c)} | '
                        f'true={_e(classes[j])}) = {nm[i, j]:.3f}">{nm[i, j]:.2f}</td>'
                        for j in range(len(classes)))
        body.append(f"<tr><th>{_e(_short(c, 24))}</th>{cells}</tr>")
    return f'<table class="heat" id="noise-matrix">{head}{"".join(body)}</table>'


def render_html(*, title: str, cards: list[tuple[str, str]], worst_html: str, shown: int,
                per_class_html: str, noise_html: str, confusions: list[tuple], plots: list[str],
                notes: list[str], footer: str, review_html: str = "") -> str:
    """The page; every dynamic string reaching here is already escaped by its builder."""
    from cleanlab_lite.review_page import REVIEW_CSS, REVIEW_JS, script_hash

    script = SCRIPT + REVIEW_JS
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src {script_hash(script)}; base-uri 'none'; form-action 'none'")
    card_html = "".join(f'<div class="card"><b>{v}</b>{_e(k)}</div>' for k, v in cards)
    conf_html = ""
    if confusions:
        items = "".join(f"<tr><td>{_e(g)}</td><td>{_e(t)}</td><td class='num'>{c:.0f}</td></tr>"
                        for g, t, c in confusions)
        conf_html = ("<h3>Most common estimated confusions</h3><table id='confusions'><tr>"
                     "<th>given label</th><th>likely true label</th><th>rows (confident joint)"
                     f"</th></tr>{items}</table>")
    note_html = "".join(f'<p class="muted">{_e(n)}</p>' for n in notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}{REVIEW_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<div class="cards">{card_html}</div>
{note_html}
<h2>Most suspect rows</h2>
<p><input id="filter" type="search" placeholder="filter by label, id or row"
  aria-label="filter rows"> <label><input id="only-flagged" type="checkbox"> flagged only</label>
  <span class="muted">showing <span id="shown">{shown}</span> of {shown} rows</span></p>
{worst_html}
{review_html}
<h2>Per-class issue rates and out-of-fold accuracy</h2>
{per_class_html}
<h2>Estimated noise matrix</h2>
<p class="muted">Row: given label; column: estimated true label. A cell is P(given label | true
label), so each column sums to 1; a dataset without label noise is the identity. Off-diagonal
cells are shaded relative to the largest of them; the diagonal is grey.</p>
{noise_html}
{conf_html}
<h2>Plots</h2>
<div class="plots">{''.join(plots)}</div>
<p class="muted">{footer}</p>
<script>{script}</script>
</body></html>
"""


# ----------------------------------------------------------------------------------------------
# the command


def build_report(run: str | os.PathLike, *, out: str | os.PathLike | None = None, top: int = 50,
                 thumb_size: int = 96, progress: bool | None = None) -> ReportResult:
    """Write report.html (default RUN/report.html) and its PNG plots beside it."""
    from tqdm.auto import tqdm

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

    # per-class table
    counts, results, _ = evaluate(ranking, classes, CheckConfig(), np.zeros(len(ranking), bool))
    names = [c.name for c in results]
    per_class = pd.DataFrame({"rows": [c.rows for c in results],
                              "flagged": [c.flagged for c in results],
                              "rate": [c.rate for c in results]}, index=pd.Index(names))
    est = {str(p.get("class")): p.get("estimated_issues")
           for p in summary.get("per_class") or [] if isinstance(p, dict)}
    per_class["estimated_issues"] = pd.Series(est, dtype=float).reindex(per_class.index)
    per_class = per_class.join(oof_per_class(metrics, names, ranking))

    # worst rows
    worst = ranking.head(top).reset_index(drop=True)
    image_src = _image_source(config, rows, run)
    cells: list[tuple[str, str]] = []
    thumbs: dict[int, str] = {}
    missing = 0
    kind = config.get("kind") or ("image" if image_src else
                                  "tabular" if rows is not None else "pred_probs")
    if image_src is not None:
        col, root = image_src
        paths = rows.set_index("row")[col].reindex(worst["row"]).to_numpy()
        bar = tqdm(paths, desc="thumbnails", unit="img", leave=False,
                   disable=None if progress is None else not progress)
        for row, p in zip(worst["row"].tolist(), bar):
            if p is None or (isinstance(p, float) and np.isnan(p)):
                cells.append(("thumb", '<span class="muted">no path</span>'))
                missing += 1
                continue
            full = Path(str(p)) if Path(str(p)).is_absolute() else root / str(p)
            try:
                uri = thumbnail_data_uri(full, thumb_size)
                thumbs[int(row)] = uri
                cells.append(("thumb", f'<img alt="{_e(p)}" title="{_e(p)}" src="{uri}" '
                                       f'width="{thumb_size}">'
                                       f'<span class="muted">{_e(_short(str(p), 40))}</span>'))
            except (OSError, ValueError) as e:
                missing += 1
                cells.append(("thumb", f'<span class="muted">cannot open {_e(p)} '
                                       f'({_e(type(e).__name__)})</span>'))
        if missing:
            notes.append(f"{missing} of {len(worst)} images could not be opened (moved or "
                         f"deleted since training; data root {root}).")
        kind_label = "image"
    else:
        kind_label = "values"
        if rows is not None:
            cols = value_columns(rows, config)
            shown_cols = cols[:MAX_VALUE_COLS]
            vals = rows.set_index("row").reindex(worst["row"])[shown_cols]
            extra = len(cols) - len(shown_cols)
            for rec in vals.to_dict("records"):
                text = "\n".join(f"{k} = {_format_value(v)}" for k, v in rec.items())
                if extra:
                    text += f"\n+{extra} more columns"
                cells.append(("values", _e(text) or '<span class="muted">(no columns)</span>'))
        else:
            cells = [("values", '<span class="muted">rows.parquet not in the run folder</span>')] * len(worst)
            notes.append("RUN/rows.parquet is missing, so row values are not shown.")

    # plots
    plot_files: list[Path] = []
    plot_imgs: list[str] = []

    pngs: dict[str, bytes] = {}   # written beside the page only once the page is built

    def add(name: str, plot, *args, alt: str | None = None) -> bytes:
        pngs[name] = data = plot(*args, None)
        if alt:
            plot_imgs.append(_img(data, alt))
        return data

    add("issue_rate_per_class.png", plot_class_rates, per_class, alt="issue rate per class")
    if per_class["accuracy"].notna().any():
        add("oof_accuracy_per_class.png", plot_oof_accuracy, per_class["accuracy"],
            alt="out-of-fold accuracy per class")
    add("label_quality_hist.png", plot_quality_hist, ranking, alt="label quality histogram")
    nm = canonical_noise_matrix(summary, len(classes))
    if nm is not None:
        data = add("noise_matrix.png", plot_noise_matrix, nm, classes)
        noise_html = (_heatmap_html(nm, classes) if len(classes) <= HEATMAP_TABLE_MAX_K
                      else _img(data, "estimated noise matrix heatmap"))
    else:
        noise_html = '<p class="muted">summary.json has no noise matrix for this run.</p>'

    n, flagged = counts["n"], counts["flagged"]
    acc = ((metrics or {}).get("oof") or {}).get("accuracy")
    if acc is None and "predicted_label" in ranking.columns:
        acc = float((ranking["predicted_label"].astype(str) == ranking["given_label"]).mean())
    cards = [("rows", f"{n:,}"), ("classes", str(len(names))),
             ("flagged as label issues", f"{flagged:,} ({_pct(flagged / n if n else 0)})")]
    if isinstance(summary.get("estimated_noise_rate"), (int, float)):
        cards.append(("estimated noise rate", _pct(summary["estimated_noise_rate"])))
    if isinstance(acc, (int, float)):
        cards.append(("out-of-fold accuracy", _pct(acc)))
    method = summary.get("method")
    footer = (f"clean-labels {__version__} · run {_e(run)} · {_e(kind)} data"
              + (f" · score {_e(method)}" if method else "")
              + (f" · flags {_e(summary['filter_by'])}" if summary.get("filter_by") else ""))
    page = render_html(
        title=f"clean-labels report: {run.resolve().name}", cards=cards,
        worst_html=_worst_rows_html(worst, cells, kind_label), shown=len(worst),
        per_class_html=_per_class_html(per_class), noise_html=noise_html,
        confusions=top_confusions(summary, classes), plots=plot_imgs, notes=notes, footer=footer,
        review_html=_review_html(run, ranking, classes, top, thumbs))
    if png_dir is not None:
        for name, data in pngs.items():
            with atomic_path(png_dir / name) as tmp:
                tmp.write_bytes(data)
            plot_files.append(png_dir / name)
    write_text(html_path, page)
    return ReportResult(run=run, html_path=html_path, plots=plot_files, kind=kind, n=n, k=len(names),
                        flagged=flagged, shown=len(worst), missing_images=missing, notes=notes)


def _review_html(run: Path, ranking: pd.DataFrame, classes: list[str], top: int,
                 thumbs: dict[int, str]) -> str:
    """The review controls (cleanlab_lite.review_page) over the rows shown, folded away until
    opened: decisions stay in this browser's local storage and download as decisions.csv."""
    from cleanlab_lite.review import review_items
    from cleanlab_lite.review_page import fragment

    items, kind = review_items(Run(run), ranking, classes, top=top, images=thumbs)
    data = {"run_key": str(run.resolve()), "classes": classes, "items": items,
            "has_id": "id" in ranking.columns, "kind": kind}
    where = (f"Decisions stay in this browser; download decisions.csv, then apply it with "
             f"`clean-labels export {run} --decisions decisions.csv`, or use `clean-labels review "
             f"{run}`, which saves them into the run folder.")
    return (f'<details id="review-section"><summary><b>Review these {len(items)} rows</b> '
            f'(keep / relabel / drop, keyboard first)</summary>{fragment("static", data, where)}'
            f"</details>")


def summary_text(result: ReportResult) -> str:
    """The one-screen summary `clean-labels report` prints."""
    lines = [f"Report: {result.html_path}",
             f"  {result.shown} most suspect of {result.n:,} rows shown ({result.kind} run, "
             f"{result.k} classes, {result.flagged:,} flagged)"]
    if result.plots:
        lines.append(f"  plots beside it: {', '.join(p.name for p in result.plots)}")
    lines += [f"  note: {n}" for n in result.notes]
    run = result.run
    lines.append(f"Next: open it in a browser; gate CI with `clean-labels check {run} "
                 f"--max-issue-rate 2%`, or drop suspects with `clean-labels export {run} "
                 f"--drop-flagged`.")
    return "\n".join(lines)
