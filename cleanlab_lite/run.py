"""The run folder: the one module that knows its file names, reads and writes them, and says in
one line what to do when a file is missing or unreadable. No other module opens a run file by name.

Usage: `Run("run1").read_ranking()`; `.fold(repeat, fold, R)` is a fold_files.FoldFiles.
Layout (docs/architecture.md draws the stages that write each file):

    config.yaml   rows.parquet   classes.json   labels.npy   pred_probs.npy   metrics.json
    skipped.csv   ranking.parquet   ranking.csv   summary.json   decisions.csv   review.lock
    report.html   cleaned.<ext>   dataset.csv (the manifest built from a class-folder dataset)
    folds/fold-<i>/{model.pt, oof_probs.npy, oof_rows.npy, done.json}
    cache/        the decoded-image cache
    delta/        outputs of `check --manifest`

Every writer goes through `cleanlab_lite.io` (temporary name, then rename), so an interrupted
command leaves the old file or the new one. Readers raise `RunFolderError` (exit 2) naming the
file and the command that rewrites it. Optional files have readers that return None / {} when
the file is absent; a file that exists but cannot be parsed is always an error.

To add a file: add its name to NAMES, a `*_path` property, and a small typed reader/writer here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cleanlab_lite.errors import RunFolderError
from cleanlab_lite.fold_files import FoldFiles
from cleanlab_lite.io import (atomic_path, file_record, record_matches, write_json, write_npy,
                              write_yaml)

CONFIG = "config.yaml"
ROWS = "rows.parquet"
CLASSES = "classes.json"
LABELS = "labels.npy"
PRED_PROBS = "pred_probs.npy"
METRICS = "metrics.json"
SKIPPED = "skipped.csv"
RANKING = "ranking.csv"           # the view for people (ranking.py)
RANKING_TABLE = "ranking.parquet"  # the typed hand-off every later stage reads
SUMMARY = "summary.json"
DECISIONS = "decisions.csv"
REVIEW_LOCK = "review.lock"  # held by a running `clean-labels review`
REPORT = "report.html"
FOLDS = "folds"              # folds/fold-<i>/: fold_files.FoldFiles
CACHE = "cache"
SHARED_DATA = "fold-data.npy"   # in cache/: the data the fold processes map (train.parallel)
DELTA = "delta"
EMBED_PREFIX = "embed-"       # cache/embed-<key>.npy: backbone embeddings (train.embed)
CLEANED = "cleaned"          # cleaned.<ext>: export's default output
BUILT_MANIFEST = "dataset.csv"  # the manifest train built from a class-folder dataset
# the files this module owns at the top of a run folder
NAMES = (CONFIG, ROWS, CLASSES, LABELS, PRED_PROBS, METRICS, SKIPPED, RANKING, RANKING_TABLE,
         SUMMARY, DECISIONS, REVIEW_LOCK, REPORT, BUILT_MANIFEST)



def read_json_file(path: Path, fix: str) -> Any:
    """A JSON file's value; RunFolderError naming the file and `fix` when it cannot be parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunFolderError(f"{path} is not valid JSON; {fix}") from None


# ---- provenance (records: io.file_record) ----------------------------------------------------
TRAIN_OUTPUTS = (ROWS, CLASSES, LABELS, PRED_PROBS)   # recorded in config.yaml by a finished train
RANKED_INPUTS = (PRED_PROBS, LABELS, ROWS, CLASSES)   # recorded in summary.json by rank


class Run:
    """A run folder at `path` (it need not exist yet: writers create it)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    # ---- names --------------------------------------------------------------------------------
    config_path = property(lambda self: self.path / CONFIG)
    rows_path = property(lambda self: self.path / ROWS)
    classes_path = property(lambda self: self.path / CLASSES)
    labels_path = property(lambda self: self.path / LABELS)
    pred_probs_path = property(lambda self: self.path / PRED_PROBS)
    metrics_path = property(lambda self: self.path / METRICS)
    skipped_path = property(lambda self: self.path / SKIPPED)
    ranking_path = property(lambda self: self.path / RANKING)
    ranking_table_path = property(lambda self: self.path / RANKING_TABLE)
    summary_path = property(lambda self: self.path / SUMMARY)
    decisions_path = property(lambda self: self.path / DECISIONS)
    review_lock_path = property(lambda self: self.path / REVIEW_LOCK)
    report_path = property(lambda self: self.path / REPORT)
    folds_dir = property(lambda self: self.path / FOLDS)
    cache_dir = property(lambda self: self.path / CACHE)
    delta_dir = property(lambda self: self.path / DELTA)
    delta_ranking_path = property(lambda self: self.path / DELTA / RANKING)
    delta_summary_path = property(lambda self: self.path / DELTA / SUMMARY)
    delta_cache_dir = property(lambda self: self.path / DELTA / CACHE)
    # the training data written once for the fold processes to map (removed after training)
    shared_data_path = property(lambda self: self.cache_dir / SHARED_DATA)

    def embedding_path(self, key: str) -> Path:
        """RUN/cache/embed-<key>.npy: float32 (N, D) image embeddings, reused by reruns."""
        return self.cache_dir / f"{EMBED_PREFIX}{key}.npy"

    def cleaned_path(self, ext: str) -> Path:
        """export's default output, RUN/cleaned<ext> (ext with its dot: '.csv')."""
        return self.path / f"{CLEANED}{ext}"

    @property
    def built_manifest_path(self) -> Path:
        """RUN/dataset.csv: the manifest (path, label) train built from a class-folder dataset."""
        return self.path / BUILT_MANIFEST

    def recorded_data_root(self) -> str | None:
        """The data root config.yaml records (train's --data-root, resolved), or None."""
        try:
            root = (self.read_config(required=False).get("data") or {}).get("data_root")
        except RunFolderError:
            return None
        return root if isinstance(root, str) else None

    def owned_paths(self) -> list[Path]:
        """The top-level files this folder owns (existing or not)."""
        return [self.path / n for n in NAMES]

    def owns(self, path, *, own: Path | None = None) -> bool:
        """Whether `path`, whatever its spelling (relative, `..`, a symlink, a hardlink), is a file
        this folder writes itself: a top-level run file other than `own`, or anything under
        folds/, cache/ or delta/."""
        return self.owns_any([path], own=own) is not None

    def owns_any(self, paths, *, own: Path | None = None):
        """The first of `paths` that this folder writes itself (see owns), or None."""
        run = os.path.realpath(self.path)
        skip = os.path.realpath(own) if own else None
        files = [x for x in self.owned_paths() if os.path.realpath(x) != skip]
        names = {os.path.realpath(x) for x in files}
        inodes = set()
        for x in files:
            try:
                st = os.stat(x)
                inodes.add((st.st_dev, st.st_ino))
            except OSError:
                pass
        dirs = tuple(os.path.join(run, d) + os.sep for d in (FOLDS, CACHE, DELTA))
        for path in paths:
            real = os.path.realpath(path)
            if real in names or real.startswith(dirs):
                return path
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in inodes:
                return path
        return None

    def fold(self, repeat: int, fold: int, repeats: int) -> "FoldFiles":
        """That fold's folder: folds/fold-<i>/ when repeats == 1, else folds/repeat-<r>/fold-<i>/."""
        base = self.folds_dir / f"repeat-{repeat}" if repeats > 1 else self.folds_dir
        return FoldFiles(base / f"fold-{fold}")

    def folds(self, folds: int, repeats: int) -> list["FoldFiles"]:
        """Every fold folder of a run trained with `folds` x `repeats`, in training order."""
        return [self.fold(r, i, repeats) for r in range(repeats) for i in range(folds)]

    # ---- what the run was made from (for cleanlab_lite.guards) -----------------------------------
    def inputs_of_run(self) -> list[tuple[Path, str]]:
        """(path, what) of the files the run was made from that config.yaml names."""
        cfg = self.read_config(required=False)
        out = []
        if isinstance(cfg.get("manifest"), str):
            out.append((Path(cfg["manifest"]), "the manifest"))
        emb = (cfg.get("data") or {}).get("embeddings")
        if isinstance(emb, str):
            out.append((Path(emb), "the embeddings"))
        return out

    def data_folders(self) -> set[str]:
        """Folders that hold the run's data: the manifest's folder and every folder holding one of
        its images (resolved paths, as strings)."""
        cfg = self.read_config(required=False)
        folders = set()
        if isinstance(cfg.get("manifest"), str):
            folders.add(os.path.realpath(Path(cfg["manifest"]).parent))
        folders |= {os.path.dirname(p) for p in self.image_paths(cfg)}
        return folders

    def image_paths(self, cfg: dict | None = None) -> set[str]:
        """The resolved paths of the run's images (an image run), else an empty set."""
        cfg = self.read_config(required=False) if cfg is None else cfg
        data = cfg.get("data") or {}
        col, root = data.get("path_col"), data.get("data_root")
        if cfg.get("kind") != "image" or not col or not root or col not in (self.rows_columns() or []):
            return set()
        root = os.path.realpath(root)
        paths = self.read_rows_table([col]).column(col).to_pylist()
        return {os.path.normpath(os.path.join(root, str(p))) for p in paths if p is not None}

    def require_dir(self, hint: str) -> None:
        """RunFolderError when the folder does not exist; `hint` says which folder to pass."""
        if not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} not found; {hint}")

    def _missing(self, name: str, fix: str) -> RunFolderError:
        return RunFolderError(f"run folder {self.path} has no {name}; {fix}")

    # ---- config.yaml --------------------------------------------------------------------------
    def read_config(self, *, required: bool = True) -> dict:
        """RUN/config.yaml as a dict. Missing: RunFolderError when `required`, else {}."""
        p = self.config_path
        if not p.is_file():
            if required:
                raise self._missing(CONFIG, f"run `clean-labels train MANIFEST --out {self.path}` first")
            return {}
        import yaml

        try:
            cfg = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise RunFolderError(f"{p} is not valid YAML; rerun `clean-labels train` to rewrite it") from None
        return cfg if isinstance(cfg, dict) else {}

    def write_config(self, cfg: dict) -> None:
        write_yaml(self.config_path, cfg)

    def read_train_config(self) -> dict:
        """config.yaml of a train run, with the keys export and report rely on checked:
        manifest, manifest_format, data.label_col."""
        cfg = self.read_config()
        data = cfg.get("data")
        missing = [k for k in ("manifest", "manifest_format") if not isinstance(cfg.get(k), str)]
        if not isinstance(data, dict) or not isinstance(data.get("label_col"), str):
            missing.append("data.label_col")
        if missing:
            raise RunFolderError(f"{self.config_path} lacks {', '.join(missing)}; it was not written "
                                 f"by `clean-labels train`, rerun `clean-labels train MANIFEST "
                                 f"--out {self.path}` to rewrite it")
        return cfg

    def record_train_outputs(self, cfg: dict) -> None:
        """Write config.yaml with `outputs`: the record of each train output now in the folder.
        Called last by train; a config.yaml without `outputs` means train has not finished."""
        cfg = dict(cfg)
        cfg["outputs"] = {n: file_record(self.path / n) for n in TRAIN_OUTPUTS
                          if (self.path / n).is_file()}
        self.write_config(cfg)

    def check_train_outputs(self) -> dict:
        """Refuse (RunFolderError) a run whose train did not finish or whose outputs changed since;
        return the records of the train outputs present, for rank's provenance."""
        cfg = self.read_config()
        outputs = cfg.get("outputs")
        retrain = f"run `clean-labels train MANIFEST --out {self.path}` to the end (finished folds are reused)"
        if not isinstance(outputs, dict):
            raise RunFolderError(f"{self.config_path} records no finished train (interrupted, still "
                                 f"running, or written by an older version); {retrain}")
        records = {}
        for name in TRAIN_OUTPUTS:
            path = self.path / name
            if not path.is_file():
                continue
            if not record_matches(path, outputs.get(name)):
                raise RunFolderError(f"{path} is not the file train recorded in {self.config_path} "
                                     f"(changed since, or left by an interrupted train); {retrain}")
            records[name] = outputs[name]
        return records

    # ---- classes.json -------------------------------------------------------------------------
    def read_classes(self, *, required: bool = True) -> list | None:
        """Class names in index order, as train wrote them (values may be int or str).
        Missing: RunFolderError when `required`, else None."""
        p = self.classes_path
        if not p.is_file():
            if required:
                raise self._missing(CLASSES, "rerun `clean-labels train`")
            return None
        data = read_json_file(p, "rerun `clean-labels train` to rewrite it")
        if not isinstance(data, list) or not data:
            raise RunFolderError(f"{p} must be a JSON list of class names; rerun `clean-labels train` "
                                 "to rewrite it")
        return data

    def class_names(self, ranking=None) -> list[str]:
        """Class names (as str) in index order: classes.json, else summary.json's per_class, else
        the sorted given labels of `ranking` (a run ranked from the user's own pred_probs)."""
        classes = self.read_classes(required=False)
        if classes is not None:
            return [str(c) for c in classes]
        per_class = self.read_summary().get("per_class") or []
        names = [str(p["class"]) for p in per_class if isinstance(p, dict) and "class" in p]
        if names or ranking is None:
            return names
        return sorted(ranking["given_label"].unique().tolist())

    def write_classes(self, classes: list) -> None:
        write_json(self.classes_path, list(classes))

    # ---- labels.npy / pred_probs.npy ------------------------------------------------------------
    def read_labels(self) -> np.ndarray | None:
        """RUN/labels.npy (int64 (N,) class indices), or None when absent."""
        p = self.labels_path
        if not p.is_file():
            return None
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            from cleanlab_lite.errors import LabelsError
            raise LabelsError(f"{p} cannot be read ({e}); rerun `clean-labels train`") from None

    def write_labels(self, labels: np.ndarray) -> None:
        write_npy(self.labels_path, np.asarray(labels).astype(np.int64))

    def require_pred_probs(self) -> Path:
        """The path of RUN/pred_probs.npy, or RunFolderError with the command that writes it."""
        if not self.pred_probs_path.is_file():
            raise self._missing(PRED_PROBS, f"run `clean-labels train MANIFEST --out {self.path}` to "
                                            "the end first (or pass --pred-probs)")
        return self.pred_probs_path

    def read_pred_probs(self, mmap: bool = False) -> np.ndarray:
        """RUN/pred_probs.npy as float32 (N, K) (memory-mapped when `mmap`)."""
        return np.load(self.require_pred_probs(), mmap_mode="r" if mmap else None, allow_pickle=False)

    def write_pred_probs(self, pred_probs: np.ndarray) -> None:
        write_npy(self.pred_probs_path, np.asarray(pred_probs, dtype=np.float32))

    # ---- rows.parquet -------------------------------------------------------------------------
    def rows_columns(self) -> list[str] | None:
        """Column names of RUN/rows.parquet, or None when absent."""
        if not self.rows_path.is_file():
            return None
        import pyarrow.parquet as pq
        return self._parquet(lambda: pq.read_schema(self.rows_path).names)

    def read_rows_table(self, columns: list[str] | None = None):
        """RUN/rows.parquet as a pyarrow Table (only `columns` when given), or None when absent."""
        if not self.rows_path.is_file():
            return None
        import pyarrow.parquet as pq
        return self._parquet(lambda: pq.read_table(self.rows_path, columns=columns))

    def read_rows(self, columns: list[str] | None = None):
        """RUN/rows.parquet as a DataFrame (with `row` added when an old file lacks it), or None."""
        if not self.rows_path.is_file():
            return None
        import pandas as pd

        rows = self._parquet(lambda: pd.read_parquet(self.rows_path, columns=columns))
        if "row" not in rows.columns and columns is None:
            rows = rows.assign(row=np.arange(len(rows)))
        return rows

    def _parquet(self, read: Callable[[], Any]):
        """read() of rows.parquet; RunFolderError naming the file when it is not readable."""
        import pyarrow as pa

        try:
            return read()
        except (pa.ArrowException, OSError) as e:
            raise RunFolderError(f"{self.rows_path} cannot be read ({type(e).__name__}); rerun "
                                 f"`clean-labels train MANIFEST --out {self.path}`") from None

    def write_rows(self, table, folds: np.ndarray) -> None:
        """rows.parquet: the input rows as read (a DataFrame with `row`), plus `fold`."""
        t = table.copy()
        t["fold"] = np.asarray(folds).astype(np.int64)
        for c in t.columns:  # pyarrow refuses object columns of mixed types
            if t[c].dtype == object:
                kinds = {type(v) for v in t[c].dropna().head(10000)}
                if len(kinds) > 1:
                    t[c] = t[c].where(t[c].isna(), t[c].astype(str))  # missing stays missing
        with atomic_path(self.rows_path) as tmp:
            t.to_parquet(tmp, index=False)

    # ---- skipped.csv --------------------------------------------------------------------------
    def write_skipped(self, skipped: list[tuple]) -> int:
        """skipped.csv: (row, path, reason) of each image left out by --skip-bad; returns the count."""
        import pandas as pd

        df = pd.DataFrame(skipped, columns=["row", "path", "reason"])
        with atomic_path(self.skipped_path) as tmp:
            df.to_csv(tmp, index=False)
        return len(df)

    # ---- metrics.json / summary.json ----------------------------------------------------------
    def read_metrics(self) -> dict | None:
        """RUN/metrics.json, or None when absent."""
        if not self.metrics_path.is_file():
            return None
        m = read_json_file(self.metrics_path, "rerun `clean-labels train` to rewrite it")
        return m if isinstance(m, dict) else None

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.metrics_path, metrics)

    def read_summary(self) -> dict:
        """RUN/summary.json, or {} when it is absent."""
        if not self.summary_path.is_file():
            return {}
        out = read_json_file(self.summary_path, f"rerun `clean-labels rank {self.path}`")
        return out if isinstance(out, dict) else {}

    def write_summary(self, summary: dict, *, inputs: dict, ranking: dict) -> None:
        """summary.json with its provenance: the records of the run files rank read (`inputs`,
        as check_train_outputs / input_records return them) and of the ranking.csv it wrote."""
        write_json(self.summary_path, {**summary, "provenance": {"inputs": inputs, "ranking": ranking}})

    def input_records(self) -> dict:
        """Records of the run files a ranking depends on that are in the folder now."""
        return {n: file_record(self.path / n) for n in RANKED_INPUTS if (self.path / n).is_file()}

    def check_ranking_current(self) -> dict:
        """Refuse (RunFolderError, exit 2, with the command to run) a ranking that is partial,
        foreign or stale: it must be the file summary.json records, and every pred_probs.npy,
        labels.npy, rows.parquet and classes.json now in the folder must be the one it was
        computed from. Returns summary.json."""
        rerank = f"rerun `clean-labels rank {self.path}`"
        if not self.summary_path.is_file():
            raise RunFolderError(f"{self.ranking_table_path} has no summary.json beside it (an interrupted "
                                 f"`rank`?); {rerank}")
        summary = self.read_summary()
        prov = summary.get("provenance")
        if not isinstance(prov, dict) or not isinstance(prov.get("inputs"), dict):
            raise RunFolderError(f"{self.summary_path} records no provenance (written by an older "
                                 f"version or by hand); {rerank}")
        if not record_matches(self.ranking_table_path, prov.get("ranking")):
            raise RunFolderError(f"{self.ranking_table_path} is not the file {self.summary_path} records "
                                 f"(an interrupted or concurrent `rank`, or an edited file); {rerank}")
        for name in RANKED_INPUTS:
            path = self.path / name
            if path.is_file() and not record_matches(path, prov["inputs"].get(name)):
                raise RunFolderError(f"{self.ranking_table_path} was not computed from the current {path} "
                                     f"(train ran again, or the ranking came from other "
                                     f"--pred-probs); {rerank}")
        return summary

    # ---- the ranking (columns: ranking.py) ---------------------------------------------------
    def read_ranking(self, *, verify: bool = True):
        """RUN/ranking.parquet as a `ranking.Ranking` (typed columns, most suspect first). With
        `verify` (the default) a partial, foreign or stale ranking is refused first (see
        check_ranking_current)."""
        from cleanlab_lite.ranking import read_parquet

        self.require_dir("pass the folder written by `clean-labels train` and `clean-labels rank`")
        rerank = f"rerun `clean-labels rank {self.path}`"
        path = self.ranking_table_path
        if not path.is_file():
            if self.ranking_path.is_file():
                raise RunFolderError(f"{self.path} has a ranking.csv but no {RANKING_TABLE} (ranked "
                                     f"by an older version); {rerank}")
            raise RunFolderError(f"{path} not found; run `clean-labels rank {self.path}` first")
        if verify:
            self.check_ranking_current()
        return read_parquet(path, rerank, RunFolderError)

    def write_ranking(self, table) -> dict:
        """ranking.parquet from `table` (ranking.build_table), then its CSV view ranking.csv;
        returns the Parquet file's provenance record."""
        from cleanlab_lite.ranking import write_csv, write_parquet

        with atomic_path(self.ranking_table_path) as tmp:
            digest = write_parquet(table, tmp)
        with atomic_path(self.ranking_path) as tmp:
            write_csv(table, tmp)
        return file_record(self.ranking_table_path, digest)

    # ---- delta/: `check --manifest` -----------------------------------------------------------
    def write_delta(self, ranking, summary: dict) -> None:
        """delta/ranking.csv (a DataFrame: ranking.csv's columns plus change, previous_label,
        run_row; is_label_issue written true/false like ranking.csv) and delta/summary.json."""
        table = ranking.copy()
        table["is_label_issue"] = np.where(table["is_label_issue"].to_numpy(bool), "true", "false")
        with atomic_path(self.delta_ranking_path) as tmp:
            table.to_csv(tmp, index=False)
        write_json(self.delta_summary_path, summary)

    # ---- decoded-image cache ------------------------------------------------------------------
    def cached_images(self, n_rows: int, image_size: int) -> np.ndarray | None:
        """The newest decode cache in RUN/cache (uint8 memmap (M, C, S, S), in manifest row order)
        at `image_size` that covers `n_rows` manifest rows, or None when there is none."""
        from cleanlab_lite.data.images import cache_files

        best = None
        for data, shape in cache_files(self.cache_dir):
            if shape[0] >= n_rows and shape[2] == image_size:
                if best is None or data.stat().st_mtime > best[0].stat().st_mtime:
                    best = (data, shape)
        return None if best is None else np.memmap(best[0], dtype=np.uint8, mode="r", shape=best[1])
