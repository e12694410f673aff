"""Read a manifest the way a run read its training manifest, for predicting or judging new rows
with the run's models: the same columns, image size and feature columns, labels mapped onto the
run's classes (a class the run never saw is an error: the models cannot predict it).

Also the run's own rows as trained (`run_rows`): the table from rows.parquet, the class values,
the labels, and the inputs the models saw (tabular features from rows.parquet, images from the
run's decode cache) so that changed contents can be told apart from unchanged ones.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.config import DataConfig, TrainConfig, build
from cleanlab_lite.data.labels import codes_for
from cleanlab_lite.errors import ColumnError, RunFolderError
from cleanlab_lite.run import Run

RUN_COLUMNS = ("row", "fold")      # added to rows.parquet by train


def run_configs(run: str | Path) -> tuple[dict, DataConfig, TrainConfig]:
    """(config.yaml as a dict, its data section, its train section) of a train run folder."""
    folder = Run(run)
    resolved = folder.read_config()
    sections = []
    for name, cls in (("data", DataConfig), ("train", TrainConfig)):
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in (resolved.get(name) or {}).items() if k in names}
        sections.append(build(cls, values, source=str(folder.config_path)))
    return resolved, sections[0], sections[1]


def map_labels(values: pd.Series, classes: list, where: str, run, rows=None) -> np.ndarray:
    """Label values -> indices into the run's `classes` (`data.labels.codes_for`). A value the
    run never saw raises LabelsError naming it (its row in `rows`) and the way out (retrain)."""
    return codes_for(values, classes, where=where, rows=rows,
                     fix=f"the models of the run {run} cannot judge a class they never saw, so "
                         "retrain: clean-labels train MANIFEST --out NEW_RUN")


@dataclass
class Rows:
    """Manifest rows as the run's models take them."""
    table: pd.DataFrame            # the rows kept, with `row` = position in the manifest
    X: np.ndarray | None           # model inputs (n, ...), None when not available
    labels: np.ndarray | None      # indices into `classes`, None when the manifest has no labels
    classes: list
    kind: str
    cfg: DataConfig                # the data options these rows were read with


def _run_spec(run: str | Path, resolved: dict, table: pd.DataFrame, cfg: DataConfig):
    """The tabular feature columns and levels training used: as config.yaml records them, or
    the same automatic choice made again on the run's own rows (a run that did not record it)."""
    from cleanlab_lite.data.features import choose_features, spec_from_record

    spec = spec_from_record(resolved.get("data") or {})
    if spec is not None:
        return spec
    return choose_features(table.drop(columns=list(RUN_COLUMNS), errors="ignore"), cfg,
                           str(Run(run).rows_path))


def read_run_rows(run: str | Path) -> pd.DataFrame:
    """RUN/rows.parquet as a DataFrame (RunFolderError when absent)."""
    rows = Run(run).read_rows()
    if rows is None:
        raise RunFolderError(f"{Run(run).rows_path} not found; rerun `clean-labels train` to "
                             f"write the run folder")
    return rows


def read_like_run(run: str | Path, manifest: str | Path, *, overrides: dict | None = None,
                  require_labels: bool = True, cache_dir: str | Path | None = None) -> Rows:
    """Read `manifest` with the run's data options (`overrides`: options the user typed, e.g.
    label_col, id_col, data_root, embeddings) and the run's image size / feature columns.

    Images are decoded at the run's size into `cache_dir` (reused on a rerun). Without a label
    column the rows are read all the same when not `require_labels` (labels None)."""
    from cleanlab_lite.data.folders import read_table
    from cleanlab_lite.data.load import load_dataset

    manifest = Path(manifest)
    resolved, run_cfg, _ = run_configs(run)
    kind = resolved.get("kind")
    values = {**dataclasses.asdict(run_cfg), "data_root": None, "group_col": None,
              "weight_col": None, "skip_bad": False, **(overrides or {})}
    spec = None
    if kind == "tabular":
        spec = _run_spec(run, resolved, read_run_rows(run), run_cfg)
        values["feature_cols"] = tuple(spec.columns)
    if kind != "embedding":
        values["embeddings"] = None
    elif not (overrides or {}).get("embeddings"):
        raise ColumnError(f"the run {run} was trained on embeddings; pass --embeddings E.npy with "
                          f"one row per row of {manifest}")
    cfg = DataConfig(**values)
    df, cfg = read_table(manifest, cfg, text_cols=(cfg.label_col, cfg.id_col))
    has_labels = require_labels and cfg.label_col in df.columns
    if require_labels and not has_labels:
        cols = ", ".join(map(str, df.columns[:20]))
        raise ColumnError(f"manifest {manifest} has no label column {cfg.label_col!r} "
                          f"(--label-col); the gate judges labels, so it needs them (its "
                          f"columns are: {cols})")
    if not has_labels:          # every row is predicted, with or without a label
        df = df.assign(**{cfg.label_col: "0"})
    if kind == "image" and cfg.path_col not in df.columns:
        raise ColumnError(f"manifest {manifest} has no image path column {cfg.path_col!r} "
                          f"(--path-col); the run {run} was trained on images")
    loaded = load_dataset(manifest, cfg, cache_dir=cache_dir, df=df, spec=spec)
    classes = Run(run).read_classes()
    labels = None
    if has_labels:
        labels = map_labels(loaded.table[cfg.label_col], classes,
                            f"manifest {manifest} column {cfg.label_col!r}", run,
                            rows=loaded.table["row"].to_numpy())
    return Rows(table=loaded.table, X=loaded.dataset.X, labels=labels, classes=classes,
                kind=loaded.dataset.kind, cfg=cfg)


def run_rows(run: str | Path) -> Rows:
    """The run's rows as trained: rows.parquet, labels.npy, and the inputs the models saw when the
    run still holds them (tabular: rows.parquet; images: the decode cache in RUN/cache;
    embeddings: the file named in config.yaml if it is unchanged in length), else X is None."""
    folder = Run(run)
    resolved, cfg, _ = run_configs(run)
    table = read_run_rows(run)
    classes = folder.read_classes()
    labels = folder.read_labels()
    if labels is None:
        labels = map_labels(table[cfg.label_col], classes, str(folder.rows_path), run)
    kind = resolved.get("kind")
    X = None
    if kind == "tabular":
        from cleanlab_lite.data.features import feature_matrix

        X = feature_matrix(table, _run_spec(run, resolved, table, cfg), str(folder.rows_path),
                           allow_nan=True)[0]
    elif kind == "image":
        rows = table["row"].to_numpy(np.int64)
        cache = folder.cached_images(int(rows.max()) + 1 if len(rows) else 0, int(cfg.image_size))
        X = None if cache is None else cache[rows]
    elif cfg.embeddings and Path(cfg.embeddings).is_file():
        E = np.load(cfg.embeddings, mmap_mode="r", allow_pickle=False)
        if E.ndim == 2 and E.shape[0] == len(table):
            X = np.asarray(E, dtype=np.float32)
    return Rows(table=table, X=X, labels=np.asarray(labels, dtype=np.int64), classes=classes,
                kind=kind, cfg=cfg)
