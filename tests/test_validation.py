"""Bad input is refused up front (issue 9, part B): every option value is typed and range-checked
before anything is written; label columns are never features; odd cells, names, ids, paths and
files give one `Error:` line, exit 2, and leave the inputs and the run folder untouched."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.config import DataConfig, TrainConfig, build
from cleanlab_lite.errors import ConfigError
from tests.expect import assert_error_line, assert_fragments
from tests.conftest import blob_table, write_pngs

FAST = ("--folds", "2", "--epochs", "1", "--quiet")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    return lines[0]


def hashes(*paths: Path) -> dict[str, str]:
    """sha256 of every file under `paths` (files or folders), by path."""
    out = {}
    for p in paths:
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        out.update({str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    return out


@pytest.fixture
def tab(tmp_path) -> Path:
    p = tmp_path / "tab.csv"
    blob_table().to_csv(p, index=False)
    return p


def refused(tmp_path, inputs: list[Path], *args) -> str:
    """Run a command that must fail with exit 2; check that no input changed and that the run
    folder tmp_path/run was not created. Returns the error line."""
    before = hashes(*inputs)
    r = run(*args)
    line = error_line(r)
    assert hashes(*inputs) == before
    assert not (tmp_path / "run").exists()
    return line


# ---- item 4: option values typed and checked before anything is written --------------------

@pytest.mark.parametrize("flag,value,expected", [
    ("--lr", "-1", "Error: --lr -1.0 must be greater than 0; use e.g. 0.01"),
    ("--lr", "0", "Error: --lr 0.0 must be greater than 0; use e.g. 0.01"),
    ("--batch-size", "0", "Error: --batch-size 0 must be at least 1; use e.g. 256"),
    ("--epochs", "0", "Error: --epochs 0 must be at least 1; use e.g. 10"),
    ("--folds", "1", "Error: --folds 1 must be at least 2; use e.g. 5"),
    ("--class-weight", "bogus", "Error: --class-weight 'bogus' must be one of none, inverse, "
     "sqrt_inverse, effective_number or comma-separated weights >= 0, one per class; "
     "use e.g. inverse"),
    ("--label-smoothing", "1.5", "Error: --label-smoothing '1.5' must be auto, one epsilon in "
     "[0, 1) or one per class (e1,e2,...); use e.g. 0.1"),
])
def test_bad_train_flag_writes_nothing(tmp_path, tab, flag, value, expected):
    assert refused(tmp_path, [tab], "train", tab, "--out", tmp_path / "run", flag, value) == expected


@pytest.mark.parametrize("yaml_text,expected", [
    ("train:\n  folds: three\n", "train.folds 'three' is not a whole number; use e.g. 5"),
    ("train:\n  epochs: 'three'\n", "train.epochs 'three' is not a whole number; use e.g. 10"),
    ("train:\n  lr: -0.5\n", "train.lr -0.5 must be greater than 0; use e.g. 0.01"),
    ("data:\n  image_size: big\n", "data.image_size 'big' is not a whole number; use e.g. 32"),
    ("train:\n  tta: maybe\n", "train.tta 'maybe' is not true or false; use true or false"),
])
def test_bad_yaml_value_writes_nothing(tmp_path, tab, yaml_text, expected):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    line = refused(tmp_path, [tab, cfg], "train", tab, "--out", tmp_path / "run", "--config", cfg)
    assert_error_line(line, f"Error: {cfg}: {expected}")


def test_flag_overrides_bad_yaml_value_and_yaml_values_are_coerced():
    cfg = build(TrainConfig, {"folds": "3", "lr": "0.1", "class_weight": [1, 2, 3]},
                {"folds": 4}, source=("c.yaml", "flags"))
    assert (cfg.folds, cfg.lr, cfg.class_weight) == (4, 0.1, "1,2,3")


def test_library_configs_are_checked_too():
    with pytest.raises(ConfigError) as e:
        TrainConfig(epochs=0)
    assert_fragments(str(e.value), "--epochs 0 must be at least 1; use e.g. 10")
    with pytest.raises(ConfigError) as e:
        TrainConfig(folds=3, fold=3)
    assert_fragments(str(e.value), "--fold 3 is out of range; use 0..2 with --folds 3")


def test_class_weight_count_checked_before_any_run_file(tmp_path, tab):
    line = refused(tmp_path, [tab], "train", tab, "--out", tmp_path / "run", "--class-weight", "1,2")
    assert_error_line(line, "Error: --class-weight '1,2' must be one of none, inverse, sqrt_inverse, "
                    "effective_number or 3 non-negative comma-separated weights (one per class)")


def test_image_size_beyond_memory_refused_before_decoding(tmp_path, image_manifest):
    inputs = [image_manifest, image_manifest.parent / "img"]
    line = refused(tmp_path, inputs, "train", image_manifest, "--out", tmp_path / "run",
                   "--image-size", "100000")
    assert_error_line(line, "Error: --image-size 100000 needs more memory than is available")
    assert re.search(r"; use --image-size \d+ or less$", line), line


def test_demo_bad_noise_writes_nothing(tmp_path):
    r = run("demo", "--out", tmp_path / "run", "--noise", "2")
    assert_error_line(error_line(r), "Error: --noise 2.0 must be at least 0 and below 1; use e.g. 0.1")
    assert not (tmp_path / "run").exists()


# ---- item 6: features and labels ------------------------------------------------------------

@pytest.mark.parametrize("col", ["label", "true_label", "original_label"])
def test_label_columns_cannot_be_features(tmp_path, col):
    df = blob_table()
    df["true_label"] = df["label"]
    df["original_label"] = df["label"]
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    line = refused(tmp_path, [p], "train", p, "--out", tmp_path / "run", "--feature-cols", f"f0,{col}")
    assert_error_line(line, f"Error: --feature-cols names {col!r}, which holds a label, not a feature; "
                    "leave it out of --feature-cols")


def test_stray_text_in_numeric_column_is_an_error_naming_the_rows(tmp_path):
    df = blob_table()
    df["f1"] = df["f1"].astype(object)
    df.loc[[3, 50], "f1"] = ["oops", "n/a?"]
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    line = refused(tmp_path, [p], "train", p, "--out", tmp_path / "run")
    assert_error_line(line, f"Error: manifest {p}, column 'f1': rows 3, 50 hold text that is not a number "
                    "(e.g. 'oops'); fix the cells, leave the column out of --feature-cols, or pass "
                    "--skip-bad to drop those rows")


def test_skip_bad_drops_rows_with_stray_text_and_warns(tmp_path):
    df = blob_table()
    df["true_label"] = df["label"]          # as `clean-labels noise` writes it: never a feature
    df["f1"] = df["f1"].astype(object)
    df.loc[3, "f1"] = "oops"
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    before = hashes(p)
    r = run("train", p, "--out", tmp_path / "run", "--skip-bad", *FAST)
    assert r.exit_code == 0, r.output
    assert hashes(p) == before
    assert (f"Warning: left out 1 unusable row(s) (--skip-bad), e.g. row 3: column 'f1': 'oops' "
            f"is not a number; listed in {tmp_path / 'run' / 'skipped.csv'}") in r.output
    assert "Features: f0, f1, f2, f3 (choose with --feature-cols)" in r.output
    rows = pd.read_parquet(tmp_path / "run" / "rows.parquet")["row"].tolist()
    assert rows == [i for i in range(len(df)) if i != 3]
    assert pd.read_csv(tmp_path / "run" / "skipped.csv")["row"].tolist() == [3]


def test_classes_named_like_missing_values_are_classes(tmp_path):
    df = blob_table()
    df["label"] = df["label"].map({"cat": "None", "dog": "NA", "eel": "null"})
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    r = run("train", p, "--out", tmp_path / "run", *FAST)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "classes.json").read_text()) == ["NA", "None", "null"]
    assert np.bincount(np.load(tmp_path / "run" / "labels.npy")).tolist() == [40, 40, 40]


def test_duplicate_ids_are_an_error(tmp_path):
    df = blob_table()
    df.loc[9, "id"] = df.loc[2, "id"]
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    line = refused(tmp_path, [p], "train", p, "--out", tmp_path / "run", "--id-col", "id")
    assert_error_line(line, f"Error: manifest {p}: id 'r002' (column 'id', --id-col) is on rows 2, 9; ids "
                    "must be unique: fix them or drop --id-col")


def test_rank_labels_duplicate_ids_and_fractional_labels(tmp_path):
    pp = np.full((4, 2), 0.5, dtype=np.float32)
    np.save(tmp_path / "pp.npy", pp)
    m = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["a", "b", "a", "c"], "label": [0, 1, 0, 1]}).to_csv(m, index=False)
    inputs = [tmp_path / "pp.npy", m]
    line = refused(tmp_path, inputs, "rank", "--pred-probs", tmp_path / "pp.npy", "--labels", m,
                   "--id-col", "id", "--out", tmp_path / "run")
    assert_error_line(line, f"Error: manifest {m}: id 'a' (column 'id', --id-col) is on rows 0, 2; ids must "
                    "be unique: fix them or drop --id-col")
    np.save(tmp_path / "y.npy", np.array([0.0, 1.0, 0.5, 1.0]))
    inputs.append(tmp_path / "y.npy")
    line = refused(tmp_path, inputs, "rank", "--pred-probs", tmp_path / "pp.npy", "--labels",
                   tmp_path / "y.npy", "--out", tmp_path / "run")
    assert_error_line(line, f"Error: {tmp_path / 'y.npy'}, row 2: label 0.5 is not a whole number; labels "
                    "are class indices (0..K-1) or class names")


def test_rank_labels_manifest_reads_class_named_na(tmp_path):
    np.save(tmp_path / "pp.npy", np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]], dtype=np.float32))
    m = tmp_path / "labels.csv"
    m.write_text("label\nNA\nok\nNA\n")
    (tmp_path / "classes.json").write_text('["NA", "ok"]')
    r = run("rank", "--pred-probs", tmp_path / "pp.npy", "--labels", m, "--classes",
            tmp_path / "classes.json", "--out", tmp_path / "out", "--quiet")
    assert r.exit_code == 0, r.output
    ranking = pd.read_csv(tmp_path / "out" / "ranking.csv", keep_default_na=False)
    assert sorted(ranking["given_label"]) == ["NA", "NA", "ok"]


# ---- item 8: paths and files ----------------------------------------------------------------

@pytest.fixture
def images(tmp_path):
    """(manifest in tmp_path/data, a PNG outside that folder)."""
    df = write_pngs(tmp_path / "data" / "img")
    outside = tmp_path / "secret.png"
    (tmp_path / "data" / df.loc[0, "path"]).rename(outside)
    p = tmp_path / "data" / "m.csv"
    return p, df, outside


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_image_paths_outside_the_data_root_are_refused(tmp_path, images, how):
    p, df, outside = images
    if how == "symlink":
        os.symlink(outside, tmp_path / "data" / df.loc[0, "path"])
    else:
        df.loc[0, "path"] = "../secret.png" if how == "dotdot" else str(outside)
    df.to_csv(p, index=False)
    line = refused(tmp_path, [p.parent, outside], "train", p, "--out", tmp_path / "run")
    assert_error_line(line, f"Error: manifest {p}, row 0: image {df.loc[0, 'path']!r} (column 'path') is "
                    f"outside the data root {os.path.realpath(p.parent)}; fix the path, set "
                    "--data-root, or pass --allow-outside-root")


def test_allow_outside_root_reads_them(tmp_path, images):
    p, df, outside = images
    df.loc[0, "path"] = "../secret.png"
    df.to_csv(p, index=False)
    r = run("train", p, "--out", tmp_path / "run", "--allow-outside-root", *FAST)
    assert r.exit_code == 0, r.output
    assert pd.read_parquet(tmp_path / "run" / "rows.parquet")["path"].iloc[0] == "../secret.png"


def test_fifo_manifest_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "m.csv"
    os.mkfifo(fifo)
    line = refused(tmp_path, [], "train", fifo, "--out", tmp_path / "run")
    assert_error_line(line, f"Error: manifest {fifo} is not a regular file (a FIFO, device or socket); "
                    "pass a regular file")


def test_fifo_image_and_embeddings_are_refused(tmp_path, images, tab):
    p, df, _ = images
    os.mkfifo(tmp_path / "data" / df.loc[0, "path"])
    df.to_csv(p, index=False)
    line = refused(tmp_path, [p], "train", p, "--out", tmp_path / "run")
    assert_error_line(line, f"Error: row 0: image {tmp_path / 'data' / df.loc[0, 'path']} (column 'path') is "
                    "not a regular file (a folder, FIFO or device); fix the file or pass --skip-bad "
                    "to leave such rows out")
    os.mkfifo(tmp_path / "emb.npy")
    line = refused(tmp_path, [tab], "train", tab, "--out", tmp_path / "run", "--embeddings",
                   tmp_path / "emb.npy")
    assert_error_line(line, f"Error: embeddings file {tmp_path / 'emb.npy'} is not a regular file (a FIFO, "
                    "device or socket); pass a regular file")


def test_default_features_leave_out_label_columns(tmp_path):
    df = blob_table()
    df["true_label"] = df["label"].map({"cat": 0, "dog": 1, "eel": 2})
    df["original_label"] = df["true_label"]
    p = tmp_path / "m.parquet"
    df.to_parquet(p)
    from cleanlab_lite.data.load import load_dataset

    assert load_dataset(p, DataConfig()).dataset.feature_names == ["f0", "f1", "f2", "f3"]
