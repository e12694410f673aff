"""No command loses what the user gave: through the CLI, with the sha256 of every input before
and after (the config file under `--out .`, predict's --embeddings, check's --baseline, and the
original labels of a manifest relabeled twice)."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from tests.conftest import blob_table
from tests.runs import make_trained_run


def cli(*args, cwd=None):
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return CliRunner().invoke(main, [str(a) for a in args], env={"GITHUB_STEP_SUMMARY": None})
    finally:
        os.chdir(old)


def sha(*paths) -> dict:
    return {str(p): hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    """A tabular run (logreg, 3 folds) trained with --id-col and ranked, with 4 labels flipped."""
    return make_trained_run(tmp_path_factory.mktemp("kept"))


def test_train_never_writes_over_its_config_file(tmp_path):
    blob_table().to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "config.yaml").write_text("train:\n  model: logreg\n  folds: 3\n")
    before = sha(tmp_path / "in.csv", tmp_path / "config.yaml")
    for spelling in (".", str(tmp_path), "sub/.."):
        r = cli("train", "in.csv", "--config", "config.yaml", "--out", spelling, "-q", cwd=tmp_path)
        assert r.exit_code == 2, r.output
        assert r.output.startswith(f"Error: --out {spelling} would overwrite the config file")
        assert "choose another folder for --out" in r.output
    assert sha(tmp_path / "in.csv", tmp_path / "config.yaml") == before
    assert sorted(os.listdir(tmp_path)) == ["config.yaml", "in.csv"]     # no run file written
    r = cli("train", "in.csv", "--config", "config.yaml", "--out", "run", "-q", cwd=tmp_path)
    assert r.exit_code == 0, r.output


def test_predict_never_writes_over_its_embeddings(tmp_path):
    df = blob_table()
    df.to_csv(tmp_path / "in.csv", index=False)
    emb = df[["f0", "f1", "f2", "f3"]].to_numpy(np.float32)
    np.save(tmp_path / "train.npy", emb)
    np.save(tmp_path / "new.npy", emb[:10])
    df.head(10).to_csv(tmp_path / "new.csv", index=False)
    r = cli("train", tmp_path / "in.csv", "--embeddings", tmp_path / "train.npy", "--out",
            tmp_path / "run", "--model", "logreg", "--folds", "3", "-q")
    assert r.exit_code == 0, r.output
    os.link(tmp_path / "new.npy", tmp_path / "hard.npy")
    before = sha(tmp_path / "new.npy", tmp_path / "new.csv", tmp_path / "train.npy")
    for out in (tmp_path / "new.npy", tmp_path / "sub" / ".." / "new.npy", tmp_path / "hard.npy"):
        r = cli("predict", tmp_path / "run", tmp_path / "new.csv", "--embeddings",
                tmp_path / "new.npy", "--out", out)
        assert r.exit_code == 2, r.output
        assert r.output.startswith(f"Error: --out {out} is the embeddings")
    assert sha(tmp_path / "new.npy", tmp_path / "new.csv", tmp_path / "train.npy") == before
    r = cli("predict", tmp_path / "run", tmp_path / "new.csv", "--embeddings",
            tmp_path / "new.npy", "--out", tmp_path / "p.npy")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "p.npy").shape == (10, 3)


def test_check_never_rewrites_the_baseline_it_reads(ranked):
    run, base = ranked / "run", ranked / "accepted.csv"
    assert cli("check", run, "--write-baseline", base).exit_code == 0
    with open(base, "a") as f:
        f.write("r999,999,cat,dog,0.5\n")       # a reviewed row added by hand
    os.symlink(base, ranked / "link.csv")
    before = sha(base, ranked / "in.csv")
    for out in (base, ranked / "link.csv", run / ".." / "accepted.csv"):
        r = cli("check", run, "--baseline", base, "--write-baseline", out)
        assert r.exit_code == 2, r.output
        assert r.output.startswith(f"Error: --write-baseline {out} is the baseline")
        r = cli("check", run, "--baseline", base, "--json", ranked / "x.json",
                "--junit", ranked / "x.json")
        assert r.exit_code == 2 and "--junit" in r.output, r.output
    assert sha(base, ranked / "in.csv") == before
    assert not (ranked / "x.json").exists()


def test_relabel_twice_keeps_the_first_original_label(ranked):
    r = cli("export", ranked / "run", "--relabel", "--out", ranked / "r1.csv")
    assert r.exit_code == 0, r.output
    r1 = pd.read_csv(ranked / "r1.csv", dtype=str, keep_default_na=False)
    first = r1["original_label"] != ""
    assert first.any()
    # round two: the relabeled manifest's original_label column is an input now; change labels
    # that round one set, so round two relabels rows that already have an original label
    r1.loc[first, "label"] = r1.loc[first, "original_label"].map({"cat": "dog", "dog": "eel", "eel": "cat"})
    r1.to_csv(ranked / "r1e.csv", index=False)
    before = sha(ranked / "r1e.csv", ranked / "in.csv")
    assert cli("train", ranked / "r1e.csv", "--out", ranked / "run2", "--id-col", "id", "--model",
               "logreg", "--folds", "3", "--feature-cols", "f0,f1,f2,f3", "-q").exit_code == 0
    assert cli("rank", ranked / "run2", "-q").exit_code == 0
    for fmt in ("csv", "parquet"):
        r = cli("export", ranked / "run2", "--relabel", "--out", ranked / f"r2.{fmt}")
        assert r.exit_code == 0, r.output
        r2 = (pd.read_csv(ranked / "r2.csv", dtype=str, keep_default_na=False) if fmt == "csv"
              else pd.read_parquet(ranked / "r2.parquet").fillna(""))
        assert (r2.loc[first, "original_label"] == r1.loc[first, "original_label"]).all()
        again = (r2["original_label"] != "") & ~first
        assert (r2.loc[again, "original_label"] == r1.loc[again, "label"]).all()
    assert sha(ranked / "r1e.csv", ranked / "in.csv") == before
