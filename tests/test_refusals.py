"""Options that cannot work are refused, and refused early: through the CLI, the exact exit code,
the file/column/option the message names, and no file written (no half run folder, no cache)."""
from __future__ import annotations

import hashlib
import os
import socket

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from tests.conftest import blob_table, write_pngs
from tests.runs import make_trained_run


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env={"GITHUB_STEP_SUMMARY": None})


def hashes(root) -> dict:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(root.rglob("*"))
            if f.is_file()}


def refused(root, args, *fragments):
    """Exit 2, one `Error:` line holding every fragment, and no file under root changed."""
    before = hashes(root)
    r = cli(*args)
    assert r.exit_code == 2, r.output
    assert r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output
    for f in fragments:
        assert str(f) in r.output, (f, r.output)
    assert hashes(root) == before
    return r.output


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    return make_trained_run(tmp_path_factory.mktemp("refusals"))


# ---- wrong results: options that have no effect, or a class nobody learns ---------------------


def test_a_class_whose_weights_are_all_zero_is_refused_at_load(tmp_path):
    df = blob_table()
    df["w"] = np.where(df["label"] == "dog", 0.0, 1.0)
    df.to_csv(tmp_path / "in.csv", index=False)
    refused(tmp_path, ("train", tmp_path / "in.csv", "--weight-col", "w", "--out", tmp_path / "run",
                       "--model", "logreg", "-q"), "in.csv", "'w'", "'dog'", "weight > 0")
    assert not (tmp_path / "run").exists()


def test_min_examples_per_class_is_refused_where_it_does_nothing(ranked):
    refused(ranked, ("rank", ranked / "run", "--min-examples-per-class", "29"),
            "--min-examples-per-class", "adaptive", "prune_by_class")
    r = cli("rank", ranked / "run", "--filter-by", "prune_by_class", "--min-examples-per-class", "30",
            "-q")
    assert r.exit_code == 0, r.output
    assert cli("rank", ranked / "run", "-q").exit_code == 0


def test_export_options_either_work_or_are_refused(ranked):
    run = ranked / "run"
    refused(ranked, ("export", run, "--drop-flagged", "--min-confidence", "0.9"),
            "--min-confidence", "--relabel")
    refused(ranked, ("export", run, "--drop-top", "100%", "--out", ranked / "e.csv"),
            "no rows", "--drop-top")
    refused(ranked, ("export", run, "--drop-top", "90", "--out", ranked / "e.csv"), "no rows")
    assert not (ranked / "e.csv").exists()
    r = cli("export", run, "--relabel", "--min-confidence", "0.99", "--out", ranked / "r.csv")
    assert r.exit_code == 0, r.output


def test_export_after_the_manifest_was_edited_is_refused(ranked, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(ranked / "run", run)
    manifest = ranked / "in.csv"
    original = manifest.read_bytes()
    try:
        df = pd.read_csv(manifest)
        df.loc[5, "label"] = "eel"          # a hand edit since train
        df.to_csv(manifest, index=False)
        out = refused(ranked, ("export", run, "--drop-flagged", "--out", tmp_path / "o.csv"),
                      manifest, "changed since train", f"--manifest {manifest}")
        assert "retrain" in out and not (tmp_path / "o.csv").exists()
    finally:
        manifest.write_bytes(original)


def test_a_single_class_is_refused_before_training(tmp_path):
    df = write_pngs(tmp_path / "img", n_per_class=6)
    df["label"] = "only"
    df.to_csv(tmp_path / "one.csv", index=False)
    refused(tmp_path, ("train", tmp_path / "one.csv", "--out", tmp_path / "run", "--epochs", "1",
                       "-q"), "one.csv", "'label'", "'only'", "at least 2 classes")
    tab = blob_table()
    tab["label"] = "cat"
    tab.to_csv(tmp_path / "t.csv", index=False)
    refused(tmp_path, ("train", tmp_path / "t.csv", "--out", tmp_path / "run", "--model", "logreg"),
            "t.csv", "at least 2 classes")
    assert not (tmp_path / "run").exists()


# ---- injection: labels cannot forge or hide output -----------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    df = blob_table(n_per_class=30, k=3)
    df["label"] = df["label"].map({"cat": "x\nPASS: 0 new issues.", "dog": "[click](https://e.x)",
                                   "eel": "se\x1b[31mt\x07a\u200b"})
    df.loc[[0, 1, 30, 60], "label"] = df["label"].iloc[[40, 70, 0, 40]].to_numpy()
    df.to_csv(tmp / "in.csv", index=False)
    assert cli("train", tmp / "in.csv", "--out", tmp / "run", "--model", "logreg", "--folds", "3",
               "-q").exit_code == 0
    assert cli("rank", tmp / "run", "-q").exit_code == 0
    return tmp


def test_check_and_export_tables_show_labels_escaped(hostile):
    r = cli("check", hostile / "run", "--max-issues", "0", "--markdown", hostile / "s.md")
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert not any(line.startswith("PASS") for line in lines), r.output
    assert "\x1b" not in r.output and "\x07" not in r.output and "\u200b" not in r.output
    assert "'x\\nPASS: 0 new issues.'" in r.output and "\\u200b" in r.output
    md = (hostile / "s.md").read_text()
    assert "[click]" not in md and "https://" not in md and "\x1b" not in md
    assert "\\[click\\](https\\://e.x)" in md
    r = cli("export", hostile / "run", "--drop-flagged", "--out", hostile / "o.csv")
    assert r.exit_code == 0, r.output
    assert not any(line.startswith("PASS") for line in r.output.splitlines())
    assert "\x1b" not in r.output and "\u200b" not in r.output


@pytest.mark.slow
def test_report_warnings_reach_the_terminal_escaped(hostile):
    import subprocess
    import sys

    # a process of its own: pytest would catch the warnings (matplotlib's missing glyphs) itself
    p = subprocess.run([sys.executable, "-m", "cleanlab_lite", "report", str(hostile / "run")],
                       capture_output=True, timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert p.returncode == 0, p.stderr
    assert b"Glyph 27 (\\x1b)" in p.stderr
    assert b"\x1b" not in p.stderr + p.stdout and b"\x07" not in p.stderr + p.stdout


# ---- half-written folders: validation before any run file or decode -------------------------


@pytest.mark.parametrize("args,fragments", [
    (["--backbone", "notanet"], ["--backbone", "'notanet'"]),
    (["--model", "resnet18", "--pretrained", "/missing.pth"], ["--pretrained /missing.pth"]),
    (["--model", "notamodel"], ["--model", "'notamodel'"]),
])
def test_bad_image_options_leave_no_run_folder(tmp_path, image_manifest, args, fragments):
    refused(tmp_path, ("train", image_manifest, "--out", tmp_path / "run", "--epochs", "1", "-q",
                       *args), *fragments)
    assert not (tmp_path / "run").exists()


def test_bad_labels_are_found_before_any_image_is_decoded(tmp_path, image_manifest):
    df = pd.read_csv(image_manifest)
    small = df.copy()
    small.loc[3, "label"] = "lonely"
    small.to_csv(tmp_path / "small.csv", index=False)
    out = refused(tmp_path, ("train", tmp_path / "small.csv", "--out", tmp_path / "run", "-q"),
                  "'lonely'", "1 row")
    assert "--folds 2 or fewer" not in out
    assert not (tmp_path / "run").exists()


# ---- exit 2 with the fix, not 3 -------------------------------------------------------------


def test_user_caused_failures_are_exit_2(tmp_path, ranked):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        refused(ranked, ("review", ranked / "run", "--port", port, "--no-browser"),
                f"127.0.0.1:{port}", "--port")
    assert not (ranked / "run" / "review.lock").exists()
    (tmp_path / "f").write_text("")
    refused(tmp_path, ("demo", "--out", tmp_path / "f" / "demo"), "--out", "f")
    df = blob_table()
    df.loc[5, "f1"] = 1e308
    df.to_csv(tmp_path / "big.csv", index=False)
    refused(tmp_path, ("train", tmp_path / "big.csv", "--out", tmp_path / "run", "--model", "logreg"),
            "row 5", "'f1'", "1e+308")
    os.mkfifo(tmp_path / "fifo")
    for args in (("train", tmp_path / "big.csv", "--config", tmp_path / "fifo", "--out", tmp_path / "r"),
                 ("check", ranked / "run", "--baseline", tmp_path / "fifo"),
                 ("rank", "--pred-probs", tmp_path / "fifo", "--labels", tmp_path / "fifo", "--out",
                  tmp_path / "r")):
        out = refused(tmp_path, args, "fifo", "not a regular file")
        assert "not found" not in out


def test_found_by_the_probe(ranked, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(ranked / "run", run)
    # an output of a command that names no run may still not land on a run's own file
    for out in (run / "ranking.csv", run / "folds" / "fold-0" / "x.csv"):
        refused(tmp_path, ("noise", ranked / "in.csv", "--rate", "0.1", "--out", out),
                "--out", "run folder", "choose a path outside it")
    # an unreadable rows.parquet is named, exit 2 (was an unexpected ArrowInvalid, exit 3)
    data = (run / "rows.parquet").read_bytes()
    (run / "rows.parquet").write_bytes(data[:20])
    pd.read_csv(ranked / "in.csv").head(5).drop(columns=["label"]).to_csv(tmp_path / "new.csv",
                                                                         index=False)
    refused(tmp_path, ("predict", run, tmp_path / "new.csv", "--out", tmp_path / "p.npy"),
            "rows.parquet", "cannot be read", "clean-labels train")
    refused(tmp_path, ("train", ranked / "in.csv", "--out", tmp_path / "r2", "--model", "logreg",
                       "--seed", str(2**70)), "--seed", "2147483647")
    # weights for an image model given with a table: refused, not silently ignored
    refused(tmp_path, ("train", ranked / "in.csv", "--out", tmp_path / "r2", "--model", "logreg",
                       "--pretrained", "/missing.pth"), "--pretrained", "tabular", "drop --pretrained")
    assert not (tmp_path / "r2").exists()


@pytest.mark.slow
def test_no_output_lands_on_an_image_through_a_hardlink(tmp_path, image_manifest):
    run = tmp_path / "run"
    for args in (["train", image_manifest, "--out", run, "--model", "cnn", "--epochs", "1",
                  "--folds", "2", "-q"], ["rank", run, "-q"]):
        assert cli(*args).exit_code == 0
    image = tmp_path / pd.read_csv(image_manifest)["path"].iloc[0]
    for ext, args in ((".csv", ["export", run, "--drop-top", "1", "--out"]),
                      (".html", ["report", run, "--out"]), (".json", ["check", run, "--json"])):
        link = tmp_path / f"link{ext}"
        os.link(image, link)
        refused(tmp_path, (*args, link), f"{link} is an image of this run")
