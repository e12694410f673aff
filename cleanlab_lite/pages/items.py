"""The rows report and review show, as JSON-ready dicts, and the images they embed or serve.

`review_items` turns ranking rows into cards (labels, the model's top classes, the row's values
or image, its path or id); `class_strips` picks each class's most typical rows (highest
out-of-fold probability of their own class) to show beside a (given -> suggested) group.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TOP_CLASSES = 9          # classes offered per row, most probable first
MAX_VALUE_COLS = 8       # tabular rows: values shown per row
SMALL_IMAGE = 64         # pixels: images this small are upscaled crisply and kept as PNG
STRIP = 6                # typical examples shown per class


def format_value(v: Any) -> str:
    """A cell as short text: floats to 4 significant digits, long text and lists cut."""
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(format_value(x) for x in list(v)[:4]) + (", …]" if len(v) > 4 else "]")
    text = str(v)
    return text if len(text) <= 40 else text[:39] + "…"


def value_columns(rows: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    """The input columns worth showing for a tabular row: not bookkeeping, not the label."""
    data = config.get("data") or {}
    skip = {"row", "fold", data.get("label_col") or "label", data.get("id_col"),
            data.get("group_col"), data.get("weight_col")}
    feats = data.get("feature_cols")
    return [c for c in (feats or rows.columns) if c in rows.columns and c not in skip]


def image_source(config: dict[str, Any], rows: pd.DataFrame | None, run: Path):
    """(path column, data root) for an image run, else None."""
    data = config.get("data") or {}
    col = data.get("path_col") or "path"
    if rows is None or col not in rows.columns or config.get("kind") not in (None, "image"):
        return None
    root = data.get("data_root")
    return col, Path(root) if root else run


def image_paths(config: dict[str, Any], rows: pd.DataFrame | None, run: Path) -> dict[int, Path]:
    """{row: absolute image path} for an image run ({} otherwise)."""
    src = image_source(config, rows, run)
    if src is None:
        return {}
    col, root = src
    out = {}
    for row, p in zip(rows["row"].tolist(), rows[col].tolist()):
        if isinstance(p, str) and p:
            out[int(row)] = Path(p) if Path(p).is_absolute() else root / p
    return out


def to_rgb(img):
    """A PIL image as RGB: 16-bit and float images stretched to 0..255, alpha over white."""
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


def png_bytes(path: Path) -> bytes:
    """The image at `path` re-encoded as PNG (OSError / ValueError when it cannot be read)."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        rgb = to_rgb(img)
    buf = io.BytesIO()
    rgb.save(buf, format="PNG")
    return buf.getvalue()


def thumbnail_data_uri(path: Path, size: int) -> str:
    """A data: URI of the image at `path`, fitted into size x size pixels."""
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (size, size))   # JPEG: decode at a reduced scale when it can
        img.load()
        rgb = img.copy() if img.mode == "L" else to_rgb(img)   # grey stays one channel
    w, h = rgb.size
    buf = io.BytesIO()
    if max(w, h) <= SMALL_IMAGE:      # kept at its own size: the page scales it up crisply
        rgb.save(buf, format="PNG")
        mime = "image/png"
    else:
        scale = size / max(w, h)
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
        rgb.save(buf, format="JPEG", quality=80)
        mime = "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _probs(folder, rows: np.ndarray, k: int) -> np.ndarray | None:
    """pred_probs for `rows` as float64 (len(rows), K), or None when the run has none that fit."""
    if not folder.pred_probs_path.is_file():
        return None
    pp = folder.read_pred_probs(mmap=True)
    if pp.ndim != 2 or pp.shape[1] != k or not (rows < len(pp)).all():
        return None
    return np.asarray(pp[rows], dtype=np.float64)


def review_items(folder, ranking: pd.DataFrame, classes: list[str],
                 shown: pd.DataFrame) -> tuple[list[dict[str, Any]], str]:
    """Cards for the ranking rows `shown` (in their order), and the run's kind of data
    ('image' or 'values').

    Each card: row, given_label, suggested_label, confidence, label_quality, flagged, rank
    (1-based position in the ranking), top ([class, p] for the model's most probable classes),
    id (when the run has ids), and path (image runs) or values ([[column, text]])."""
    rows = shown["row"].to_numpy(np.int64)
    probs = _probs(folder, rows, len(classes))
    config = folder.read_config(required=False)
    table = folder.read_rows()
    src = image_source(config, table, folder.path)
    vcols = value_columns(table, config)[:MAX_VALUE_COLS] if table is not None and src is None else []
    indexed = table.set_index("row").reindex(rows) if table is not None else None
    values = indexed[vcols].to_numpy() if vcols else None
    paths = indexed[src[0]].to_numpy() if src is not None else None
    top = np.argsort(-probs, axis=1, kind="stable")[:, :TOP_CLASSES] if probs is not None else None
    position = pd.Series(np.arange(1, len(ranking) + 1), index=ranking["row"].to_numpy())
    ranks = position.reindex(rows).to_numpy()
    conf = shown["suggested_confidence"].to_numpy(float) if "suggested_confidence" in shown else None
    items = []
    for i, rec in enumerate(shown.to_dict("records")):
        item = {"row": int(rec["row"]), "rank": int(ranks[i]), "given_label": str(rec["given_label"]),
                "suggested_label": str(rec.get("suggested_label", rec["given_label"])),
                "confidence": float(conf[i]) if conf is not None and np.isfinite(conf[i]) else None,
                "label_quality": float(rec["label_quality"]), "flagged": bool(rec["is_label_issue"])}
        if "id" in rec:
            item["id"] = str(rec["id"])
        if top is not None:
            item["top"] = [[classes[j], round(float(probs[i, j]), 4)] for j in top[i]]
        else:
            item["top"] = [[item["suggested_label"], item["confidence"] or 0.0]]
        if paths is not None:
            item["path"] = "" if not isinstance(paths[i], str) else paths[i]
        elif vcols:
            item["values"] = [[c, format_value(v)] for c, v in zip(vcols, values[i])]
        items.append(item)
    return items, "image" if src is not None else "values"


def class_strips(folder, ranking: pd.DataFrame, classes: list[str], per_class: int = STRIP
                 ) -> dict[str, list[int]]:
    """{class: rows}: each class's most typical rows, those given that class with the highest
    out-of-fold probability of it (label quality where the run has no pred_probs)."""
    given = pd.Categorical(ranking["given_label"].astype(str), categories=classes).codes
    rows = ranking["row"].to_numpy(np.int64)
    probs = _probs(folder, rows, len(classes))
    ok = given >= 0
    score = (probs[np.flatnonzero(ok), given[ok]] if probs is not None
             else ranking["label_quality"].to_numpy(float)[ok])
    order = np.lexsort((rows[ok], -np.nan_to_num(score, nan=-1.0), given[ok]))
    g_sorted, r_sorted = given[ok][order], rows[ok][order]
    starts = np.searchsorted(g_sorted, np.arange(len(classes)))
    ends = np.searchsorted(g_sorted, np.arange(len(classes)), side="right")
    return {c: r_sorted[s:min(e, s + per_class)].tolist()
            for c, s, e in zip(classes, starts, ends)}
