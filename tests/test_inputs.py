"""Data as people keep it, through the CLI: class folders in and out, the printed retrain
command, text columns as features, unlabeled rows, labels kept as text, other delimiters."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from tests.conftest import blob_table, write_pngs

FAST = ("--folds", "2", "--epochs", "1", "--quiet")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file below `folder` (symlinks followed), by relative path."""
    out = {}
    for top, _, files in os.walk(folder, followlinks=True):
        for f in files:
            p = Path(top) / f
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def class_folders(tmp_path: Path) -> Path:
    """DATA/class0, DATA/class1 with PNGs; a nested folder, a symlinked image from outside,
    a name used twice in one class, and files that are not images."""
    df = write_pngs(tmp_path / "flat")
    data = tmp_path / "data"
    for r in df.itertuples():
        dest = data / r.label / Path(r.path).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path / "flat" / Path(r.path).name, dest)
    nested = data / "class1" / "more"
    nested.mkdir()
    os.replace(data / "class1" / "c1_011.png", nested / "c1_000.png")   # same name as class1/c1_000.png
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.replace(data / "class0" / "c0_011.png", outside / "c0_011.png")
    os.symlink(outside / "c0_011.png", data / "class0" / "c0_011.png")
    (data / "class0" / "notes.txt").write_text("not an image")
    (data / "README.md").write_text("two classes")
    return data


def next_command(output: str, run2: Path) -> list[str]:
    """The `clean-labels train ... --out RUN2` line printed by export, with RUN2 filled in."""
    m = re.search(r"Next: retrain on it, e.g. clean-labels (train .*)$", output, re.M)
    assert m, output
    return shlex.split(m.group(1).replace("RUN2", str(run2)))


@pytest.mark.slow
def test_class_folders_end_to_end_to_a_cleaned_tree(tmp_path):
    data = class_folders(tmp_path)
    before = tree_hashes(data)
    run = tmp_path / "run"
    r = cli("train", data, "--out", run, *FAST)
    assert r.exit_code == 0, r.output
    assert "Found 24 images in 2 class folders" in r.output
    assert "skipped 2 file(s) that are not images" in r.output
    built = pd.read_csv(run / "dataset.csv")
    assert len(built) == 24 and sorted(built["label"].unique()) == ["class0", "class1"]
    assert json.loads((run / "classes.json").read_text()) == ["class0", "class1"]
    assert cli("rank", run).exit_code == 0

    for inside in (run / "tree", data / "tree", data / "class0" / "tree"):
        r = cli("export", run, "--drop-top", "3", "--folders", inside)
        assert r.exit_code == 2 and "Error: --folders" in r.output and "inside the" in r.output
        assert not inside.exists() and not (run / "cleaned.csv").exists()
    out = tmp_path / "cleaned"
    r = cli("export", run, "--drop-top", "3", "--folders", out)
    assert r.exit_code == 0, r.output
    written = tree_hashes(out)
    assert len(written) == 21
    assert set(os.listdir(out)) <= {"class0", "class1"}
    assert set(written.values()) <= set(before.values())     # every file a copy of an original
    assert tree_hashes(data) == before                        # originals untouched
    names = [Path(k).name for k in written]
    assert len(names) == len(set(written))                    # no file lost to a name clash

    r2 = cli(*next_command(r.output, tmp_path / "run2"), *FAST)
    assert r2.exit_code == 0, r2.output
    assert "Found 21 images in 2 class folders" in r2.output


def test_a_run_folder_inside_the_data_folder_is_refused(tmp_path):
    data = class_folders(tmp_path)
    r = cli("train", data, "--out", data / "run")
    assert r.exit_code == 2 and "inside the data folder" in r.output
    assert not (data / "run").exists()


@pytest.mark.parametrize("layout", ["empty", "no_images"])
def test_a_folder_that_is_not_a_dataset_is_one_line(tmp_path, layout):
    data = tmp_path / "data"
    data.mkdir()
    if layout == "no_images":
        (data / "cat").mkdir()
        (data / "cat" / "a.txt").write_text("x")
    r = cli("train", data, "--out", tmp_path / "run")
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("Error: ") and str(data) in line
    assert ("no class subfolders" if layout == "empty" else "holds no image") in line
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_printed_retrain_command_works_for_a_manifest(tmp_path):
    df = write_pngs(tmp_path / "data" / "img")
    manifest = tmp_path / "data" / "m.csv"
    df.to_csv(manifest, index=False)
    run = tmp_path / "run"
    assert cli("train", manifest, "--out", run, *FAST).exit_code == 0
    assert cli("rank", run).exit_code == 0
    r = cli("export", run, "--drop-top", "2")
    assert r.exit_code == 0, r.output
    r2 = cli(*next_command(r.output, tmp_path / "run2"), *FAST)
    assert r2.exit_code == 0, r2.output
    assert "Trained: 22 rows" in r2.output


def text_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """The label depends on the text column `region` only; `note` is free text."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], size=n)
    label = np.where(np.isin(region, ["north", "east"]), "yes", "no")
    return pd.DataFrame({"noise1": rng.normal(size=n), "noise2": rng.normal(size=n),
                         "region": region, "note": [f"free text {i}" for i in range(n)],
                         "label": label})


@pytest.mark.slow
@pytest.mark.parametrize("model", ["auto", "logreg", "knn", "hgb"])
def test_a_label_that_lives_in_a_text_column_is_learned(tmp_path, model):
    p = tmp_path / "t.csv"
    text_table().to_csv(p, index=False)
    run = tmp_path / "run"
    r = cli("train", p, "--out", run, "--model", model, "--quiet")
    assert r.exit_code == 0, r.output
    assert "region (categorical)" in r.output
    assert "Left out column 'note' (free text, 300 distinct values)" in r.output
    acc = json.loads((run / "metrics.json").read_text())["oof"]["accuracy"]
    assert acc > 0.95                      # chance is about 0.5
    new = text_table(20, seed=1).drop(columns=["label"])
    new.loc[0, "region"] = "unseen"
    new.to_csv(tmp_path / "new.csv", index=False)
    r = cli("predict", run, tmp_path / "new.csv", "--out", tmp_path / "p.npy")
    assert r.exit_code == 0, r.output
    probs = np.load(tmp_path / "p.npy")
    classes = json.loads((run / "classes.json").read_text())
    want = np.where(np.isin(new["region"], ["north", "east"]), "yes", "no")[1:]
    assert (np.array(classes)[probs.argmax(axis=1)][1:] == want).mean() > 0.9


@pytest.mark.slow
def test_unlabeled_rows_are_counted_and_passed_through(tmp_path):
    df = blob_table()
    df.loc[[3, 50, 77], "label"] = ""
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    run = tmp_path / "run"
    r = cli("train", p, "--out", run, "--quiet")
    assert r.exit_code == 0, r.output
    assert "Left out 3 row(s) without a label" in r.output
    assert json.loads((run / "metrics.json").read_text())["unlabeled_rows"] == 3
    assert pd.read_parquet(run / "rows.parquet")["row"].isin([3, 50, 77]).sum() == 0
    assert cli("rank", run).exit_code == 0
    assert len(pd.read_csv(run / "ranking.csv")) == len(df) - 3
    r = cli("export", run, "--drop-top", "5")
    assert r.exit_code == 0, r.output
    assert "kept 3 row(s) without a label, unchanged" in r.output
    src = pd.read_csv(p, dtype=str, keep_default_na=False)
    got = pd.read_csv(run / "cleaned.csv", dtype=str, keep_default_na=False)
    assert len(got) == len(df) - 5
    kept = got[got["label"] == ""]
    assert kept["id"].tolist() == src.loc[[3, 50, 77], "id"].tolist()
    pd.testing.assert_frame_equal(kept.reset_index(drop=True),
                                  src.loc[[3, 50, 77]].reset_index(drop=True))


@pytest.mark.slow
def test_labels_are_kept_as_the_text_in_the_file(tmp_path):
    df = blob_table()
    df["label"] = df["label"].map({"cat": "01", "dog": "1", "eel": "1.0"})
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    run = tmp_path / "run"
    r = cli("train", p, "--out", run, "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads((run / "classes.json").read_text()) == ["01", "1", "1.0"]
    assert np.bincount(np.load(run / "labels.npy")).tolist() == [40, 40, 40]
    assert cli("rank", run).exit_code == 0
    assert cli("export", run, "--relabel").exit_code == 0
    got = pd.read_csv(run / "cleaned.csv", dtype=str, keep_default_na=False)
    assert set(got["label"]) == {"01", "1", "1.0"}


@pytest.mark.slow
def test_plain_integer_labels_stay_numbers(tmp_path):
    df = blob_table()
    df["label"] = df["label"].map({"cat": 10, "dog": 2, "eel": 1})
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    r = cli("train", p, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "classes.json").read_text()) == [1, 2, 10]


@pytest.mark.slow
def test_a_semicolon_csv_is_read_and_written_back_with_semicolons(tmp_path):
    df = blob_table()
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False, sep=";")
    run = tmp_path / "run"
    r = cli("train", p, "--out", run, "--quiet")
    assert r.exit_code == 0, r.output
    assert "Features: f0, f1, f2, f3" in r.output
    assert cli("rank", run).exit_code == 0
    assert cli("export", run, "--drop-top", "1").exit_code == 0
    assert (run / "cleaned.csv").read_text().splitlines()[0] == "id;f0;f1;f2;f3;label"


@pytest.mark.slow
def test_noise_predict_and_check_read_a_class_folder(tmp_path):
    data = class_folders(tmp_path)
    before = tree_hashes(data)
    r = cli("noise", data, "--rate", "0.25", "--out", tmp_path / "noisy.csv")
    assert r.exit_code == 0, r.output
    noisy = pd.read_csv(tmp_path / "noisy.csv")
    assert len(noisy) == 24 and (noisy["label"] != noisy["true_label"]).sum() == 6
    assert all(Path(p).is_absolute() for p in noisy["path"])
    run = tmp_path / "run"
    assert cli("train", data, "--out", run, *FAST).exit_code == 0
    r = cli("predict", run, data, "--out", tmp_path / "p.npy")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "p.npy").shape == (24, 2)
    assert cli("rank", run).exit_code == 0
    r = cli("check", run, "--manifest", data)          # unchanged folder: nothing to judge
    assert r.exit_code == 0, r.output
    assert "0 new issues in 0 rows" in r.output
    assert tree_hashes(data) == before


@pytest.mark.slow
def test_parquet_with_image_bytes_is_an_image_manifest(tmp_path):
    df = write_pngs(tmp_path / "img")
    images = [{"bytes": (tmp_path / p).read_bytes(), "path": Path(p).name} for p in df["path"]]
    table = pd.DataFrame({"image": images, "label": df["label"]})
    (tmp_path / "data").mkdir()
    p = tmp_path / "data" / "hf.parquet"
    table.to_parquet(p)
    run = tmp_path / "run"
    r = cli("train", p, "--out", run, *FAST)
    assert r.exit_code == 0, r.output
    assert "Trained: 24 rows, 2 classes (image)" in r.output
    assert next((run / "cache").glob("images-*.u8")).stat().st_size == 24 * 8 * 8
    assert cli("rank", run).exit_code == 0
    r = cli("export", run, "--drop-top", "2", "--folders", tmp_path / "tree")
    assert r.exit_code == 0, r.output
    written = tree_hashes(tmp_path / "tree")
    originals = {hashlib.sha256(im["bytes"]).hexdigest() for im in images}
    assert len(written) == 22 and set(written.values()) <= originals
    assert len(pd.read_parquet(run / "cleaned.parquet")) == 22
