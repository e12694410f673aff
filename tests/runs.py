"""The one builder of ranked run folders for tests that need a ranking without training."""
from __future__ import annotations

from pathlib import Path

import hashlib

import numpy as np
import pandas as pd

from cleanlab_lite.data.manifest import write_manifest

from cleanlab_lite.ranking import build_table
from cleanlab_lite.run import Run


def write_ranking(folder: Run, order, **arrays) -> dict:
    """Run.write_ranking of the table ranking.build_table makes from `order` and `arrays`."""
    return folder.write_ranking(build_table(order, **arrays))


def make_ranked_run(root: Path, *, classes=("cat", "dog", "bird"), per_class=20, flagged=None,
             with_id=True, images=False, seed=0) -> Path:
    """Write a ranked run folder through cleanlab_lite.run.Run: ranking.parquet (+ csv), summary.json,
    classes.json, rows.parquet, config.yaml, metrics.json (and tiny PNGs when `images`).

    flagged: {class: number of flagged rows with that given label}; default 1 per class.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    run = root / "run"
    run.mkdir(parents=True)
    k = len(classes)
    flagged = flagged if flagged is not None else {c: 1 for c in classes}
    given = np.repeat(np.arange(k), per_class)
    n = len(given)
    issue = np.zeros(n, dtype=bool)
    for ci, c in enumerate(classes):
        issue[ci * per_class: ci * per_class + flagged.get(c, 0)] = True
    suggested = np.where(issue, (given + 1) % k, given)
    quality = np.where(issue, rng.uniform(0.01, 0.2, n), rng.uniform(0.6, 1.0, n))
    rows = pd.DataFrame({"id": [f"img-{i:03d}" for i in range(n)],
                         "label": [classes[g] for g in given],
                         "x1": rng.normal(size=n).round(3), "x2": rng.integers(0, 9, n)})
    if images:
        (run.parent / "imgs").mkdir()
        paths = []
        for i in range(n):
            color = tuple(int(v) for v in rng.integers(0, 255, 3))
            Image.new("RGB", (12, 10), color).save(run.parent / "imgs" / f"{i}.png")
            paths.append(f"imgs/{i}.png")
        rows["path"] = paths
    rows["row"] = np.arange(n)
    if not with_id:
        rows = rows.drop(columns="id")
    folder = Run(run)
    folder.write_rows(rows, np.arange(n) % 3)
    ranking = write_ranking(folder, np.argsort(quality, kind="stable"), rows=np.arange(n),
                            classes=classes, given=given, predicted=suggested, suggested=suggested,
                            quality=quality, is_issue=issue, suggested_confidence=1 - quality,
                            ids=rows["id"].to_numpy() if with_id else None)
    nm = np.full((k, k), 0.05 / max(k - 1, 1))
    np.fill_diagonal(nm, 0.95)
    cj = np.zeros((k, k), dtype=int)
    np.add.at(cj, (given, suggested), 1)
    summary = {"n": n, "k": k, "num_flagged": int(issue.sum()),
               "estimated_num_issues": int(issue.sum()),
               "estimated_noise_rate": float(issue.mean()), "method": "self_confidence",
               "filter_by": "prune_by_noise_rate",
               "per_class": [{"class": c, "count": per_class, "flagged": int(flagged.get(c, 0)),
                              "estimated_issues": int(flagged.get(c, 0))} for c in classes],
               "noise_matrix": nm.tolist(), "inv_noise_matrix": nm.tolist(),
               "confident_joint": cj.tolist(), "class_priors": [1 / k] * k}
    folder.write_classes(list(classes))
    acc = [1 - flagged.get(c, 0) / per_class for c in classes]
    folder.write_metrics({"oof": {
        "accuracy": float(np.mean(acc)),
        "per_class": {c: {"precision": 0.9, "recall": a, "f1": 0.9} for c, a in zip(classes, acc)}}})
    data = {"label_col": "label", "path_col": "path" if images else "path",
            "id_col": "id" if with_id else None,
            "data_root": str(run.parent) if images else None}
    folder.write_config({"kind": "image" if images else "tabular", "data": data})
    folder.write_summary(summary, inputs=folder.input_records(), ranking=ranking)
    return run


def make_export_run(tmp_path, fmt="csv", n=40, suspects=(3, 7, 11, 20)):
    """A run folder as train + rank leave it: rows `suspects` flagged (most suspect first);
    even rows are cats, odd rows dogs."""
    df = pd.DataFrame({"id": [f"x{i:02d}" for i in range(n)],
                       "score": np.round(np.linspace(0, 1, n), 3),
                       "label": np.where(np.arange(n) % 2 == 0, "cat", "dog"),
                       "note": ["007"] * n})
    manifest = write_manifest(df, tmp_path / f"in.{fmt}")
    run = tmp_path / "run"
    run.mkdir()
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    folder = Run(run)
    folder.write_config({"manifest": str(manifest), "manifest_format": fmt, "manifest_sha256": sha,
                         "data": {"label_col": "label", "id_col": "id"}})
    folder.write_classes(["cat", "dog"])
    rows = df.copy()
    rows.insert(0, "row", np.arange(n))
    folder.write_rows(rows, np.arange(n) % 5)
    suspects = list(suspects)
    order = np.array(suspects + [i for i in range(n) if i not in suspects])
    given = (df["label"].to_numpy() == "dog").astype(np.int64)      # cat 0, dog 1
    flagged = np.isin(np.arange(n), suspects)
    suggested = np.where(flagged, 1 - given, given)
    quality = np.empty(n)
    quality[order] = np.linspace(0, 1, n)
    conf = np.where(flagged, 0.6, 0.99)
    conf[[3, 7]] = 0.95
    ranking = write_ranking(folder, order, rows=np.arange(n), classes=["cat", "dog"], given=given,
                            predicted=suggested, suggested=suggested, quality=quality,
                            is_issue=flagged, suggested_confidence=conf, ids=df["id"].to_numpy())
    folder.write_summary({"n": n, "k": 2}, inputs=folder.input_records(), ranking=ranking)
    return run, manifest, df


def make_trained_run(root: Path, *, n_per_class: int = 30) -> Path:
    """`root`/in.csv (blob_table: ids, features f0..f3, classes cat/dog/eel, 4 labels flipped) and
    `root`/run, trained through the CLI (logreg, 3 folds, --id-col id) and ranked. Returns root."""
    from click.testing import CliRunner

    from cleanlab_lite.cli import main
    from tests.conftest import blob_table

    df = blob_table(n_per_class=n_per_class, k=3)
    flips = [0, 1, n_per_class, 2 * n_per_class]
    df.loc[flips, "label"] = ["dog", "eel", "cat", "dog"]
    df.to_csv(root / "in.csv", index=False)
    for args in (["train", root / "in.csv", "--out", root / "run", "--id-col", "id", "--model",
                  "logreg", "--folds", "3", "--feature-cols", "f0,f1,f2,f3", "-q"],
                 ["rank", root / "run", "-q"]):
        r = CliRunner().invoke(main, [str(a) for a in args])
        assert r.exit_code == 0, r.output
    return root
